"""What the emulators put on a pod's ``sys.path``: the image's site-packages, and ``packages=``.

Both emulators run each container's command under ``python -I -S``, so only the standard library and what
the document ships are importable, as in a stock image. Two things add to that, the same way in both:

* ``site_packages``: folders standing for the image's own site-packages (an image ``mlopsdsl build``
  made, say: install its lock with ``pip install --target``), added as site directories, for every
  container or by image name;
* a step's ``packages=``: installed once per distinct set into a cache folder keyed by the set and this
  Python's minor, then added the same way, instead of ``pip install`` into this interpreter on every
  attempt. A set pip cannot install fails the task with a message naming the step and pip's reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["PackagesError", "Sites", "default_cache", "install_packages", "sites_for", "with_sites"]

Sites = Sequence[Path] | Mapping[str, Sequence[Path]]
"""Folders standing for images' site-packages: for every container, or by image name."""


def sites_for(sites: Sites, image: str) -> list[Path]:
    """The site folders of a container running ``image``."""
    if isinstance(sites, Mapping):
        return list(sites.get(image, ()))
    return list(sites)


class PackagesError(Exception):
    """A step's ``packages=`` could not be installed; the message names the step and pip's reason."""


def default_cache() -> Path:
    """``$MLOPSDSL_PACKAGES_CACHE``, else ``~/.cache/mlopsdsl/packages``: shared by runs and test sessions."""
    given = os.environ.get("MLOPSDSL_PACKAGES_CACHE")
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlopsdsl" / "packages"


def install_packages(packages: Sequence[str], step: str, cache: Path | None = None) -> Path:
    """The folder holding ``packages`` installed with pip (``--target``), installing them the first time.

    The folder is keyed by the sorted set and this Python's ``major.minor``; it is filled in a temporary
    folder and renamed into place, so a concurrent run or an interrupted install never leaves a half
    folder that a later run would trust.

    Raises:
        PackagesError: pip failed; the message names ``step`` and ends with pip's last error line.
    """
    root = cache if cache is not None else default_cache()
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    key = hashlib.sha256(json.dumps([python, sorted(packages)]).encode()).hexdigest()[:20]
    folder = root / key
    if folder.is_dir():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".installing-", dir=root))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-input", "--disable-pip-version-check",
         "--no-warn-script-location", "--target", str(scratch), *packages],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
        reason = errors[0] if errors else (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise PackagesError(
            f"step {step!r}: packages={list(packages)!r} could not be installed: {reason.strip()}"
        )
    try:
        scratch.rename(folder)
    except OSError:  # another run installed the same set meanwhile: keep theirs
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


def with_sites(argv: list[str], sites: Sequence[Path]) -> list[str]:
    """``argv`` (what follows ``python`` and its flags) with ``sites`` added as site directories first.

    ``-c PROGRAM`` gets a line in front of the program; ``-m MODULE`` becomes ``-c`` running the module
    with ``runpy``, as ``-m`` would.
    """
    if not sites:
        return argv
    paths = [str(s) for s in sites]
    prelude = f"import site as _site\nfor _dir in {paths!r}:\n    _site.addsitedir(_dir)\ndel _site, _dir\n"
    if argv[:1] == ["-c"] and len(argv) >= 2:
        return ["-c", prelude + argv[1], *argv[2:]]
    if argv[:1] == ["-m"] and len(argv) >= 2:
        program = f"import runpy\nrunpy.run_module({argv[1]!r}, run_name='__main__', alter_sys=True)\n"
        return ["-c", prelude + program, *argv[2:]]
    raise ValueError(f"cannot add site folders to a command that runs {argv[:1]}")
