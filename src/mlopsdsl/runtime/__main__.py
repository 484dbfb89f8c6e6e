"""``python -m mlopsdsl.runtime SPEC.json [--arg NAME=TEXT ...]``: run one step (see ``docs/runtime.md``)."""

from __future__ import annotations

import sys

from ._main import main

sys.exit(main(sys.argv[1:]))
