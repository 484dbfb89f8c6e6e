"""What a KFP pod does with ``packages=``: pip installs them first, and a set pip cannot install ends the pod
with a message naming the step. (The emulator installs them into its own cache instead; see
``tests/images/test_images_build.py``.)"""

from __future__ import annotations

import json
import subprocess
import sys

from mlopsdsl_kfp._executors import PIP_PRELUDE


def test_an_uninstallable_package_names_the_step() -> None:
    spec = json.dumps({"step": "doomed"})
    done = subprocess.run(
        [sys.executable, "-c", PIP_PRELUDE + "print('ran')", "1", "mlopsdsl-no-such-distribution==0.0.1",
         "--spec-json", spec],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "ran" not in done.stdout
    assert done.stderr.strip().splitlines()[-1] == (
        "mlopsdsl: step 'doomed': packages= could not be installed: mlopsdsl-no-such-distribution==0.0.1"
    )


def test_the_prelude_takes_its_arguments_out_of_argv() -> None:
    """Installed (here: already installed, so pip does nothing), the program sees argv without them."""
    done = subprocess.run(
        [sys.executable, "-c", PIP_PRELUDE + "print(sys.argv[1:])", "1", "pip", "--spec-json", "{}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "['--spec-json', '{}']"
