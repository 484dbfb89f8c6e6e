"""What an Argo pod's launcher does with ``packages=``: a set pip cannot install ends the pod with a message
naming the step. (The emulator installs them into its own cache instead; see
``tests/images/test_images_build.py``.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mlopsdsl_argo._launch import LAUNCHER, WORK

from mlopsdsl.lowering import PACKAGES_ENV, RUNTIME_ENV


def test_an_uninstallable_package_names_the_step(tmp_path: Path) -> None:
    program = LAUNCHER.replace(WORK, str(tmp_path / "pod"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        RUNTIME_ENV: "",
        PACKAGES_ENV: json.dumps(["mlopsdsl-no-such-distribution==0.0.1"]),
    }
    done = subprocess.run(
        [sys.executable, "-c", program, "--spec-json", json.dumps({"step": "doomed"})],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "mlopsdsl: step 'doomed': packages= could not be installed: mlopsdsl-no-such-distribution==0.0.1"
    )
