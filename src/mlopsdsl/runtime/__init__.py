"""The step runtime: the one program that runs a step, wherever it runs.

``python -m mlopsdsl.runtime SPEC.json`` loads a step's function, reads its inputs, calls it and writes its
outputs, as a small JSON *call spec* describes (see ``docs/runtime.md``). The local runner's subprocess
executor runs exactly this command, its in-process executor calls :func:`execute` directly, and the KFP
and Argo compilers put the same command in their pods: the backends decide only where inputs and outputs
live.

It runs once per step, so it must start fast and run on a stock ``python:3.X-slim`` image: it uses the
standard library only (relative imports, so that compilers can ship it as a small zip, see
:mod:`mlopsdsl.runtime.bundle`), never the IR, pydantic, the CLI or the runner. It imports ``pickle`` for
stored objects, ``typing`` only to resolve annotations written as strings, and pydantic only when a
step's own annotations ask for a model.
"""

from __future__ import annotations

from ._main import CALL_SPEC_VERSION, execute, main
from ._retry import EXIT_FAILED, EXIT_NEVER_RETRY
from ._spec import SpecError

__all__ = ["CALL_SPEC_VERSION", "EXIT_FAILED", "EXIT_NEVER_RETRY", "SpecError", "execute", "main"]
