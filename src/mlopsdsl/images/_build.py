"""``mlopsdsl build``: a build context per image of a pipeline, written deterministically, and pushed.

Each context holds a ``Dockerfile``, the lock (``requirements.lock``, every distribution pinned to the
version installed here, with sha256 hashes when pip can fetch the files) and, in import mode, the user's
code under ``app/``. The Dockerfile builds wheels in a first stage (which may need a compiler) and
installs them in a second stage from the same slim Python image, which has no compiler and runs as a
non-root user; the wheels reach it through a bind mount, so they leave no layer behind.

Files are written whole or not at all (temp file and rename), and the same environment and code give the
same bytes, so a CI job can diff or cache the contexts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mlopsdsl._dataclass import dataclass
from mlopsdsl.errors import BuildError

if TYPE_CHECKING:
    from mlopsdsl.images._plan import Image, Plan

__all__ = ["BUILDERS", "Written", "dockerfile", "lock_text", "push", "write_contexts"]

UID = 10001
"""The user steps run as: not root, and not a name that a base image might already define."""


def dockerfile(image: Image) -> str:
    """The Dockerfile of ``image``; its text is part of the image's tag."""
    lines = [
        "# syntax=docker/dockerfile:1",
        "# Written by mlopsdsl build: edits are lost when it runs again.",
    ]
    if image.pins:
        lines += [
            f"FROM {image.base} AS wheels",
            "RUN apt-get update && apt-get install -y --no-install-recommends build-essential "
            "&& rm -rf /var/lib/apt/lists/*",
            "COPY requirements.lock /tmp/requirements.lock",
            "RUN pip wheel --no-cache-dir --disable-pip-version-check --wheel-dir /wheels "
            "-r /tmp/requirements.lock",
            "",
        ]
    lines += [
        f"FROM {image.base}",
        f"RUN useradd --create-home --uid {UID} --user-group mlopsdsl",
    ]
    if image.pins:
        lines += [
            "RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels "
            "pip install --no-cache-dir --disable-pip-version-check --no-index --no-deps /wheels/*.whl",
        ]
    if image.code:
        lines += ["COPY --chown=root:root app/ /app/", "ENV PYTHONPATH=/app"]
    lines += [
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1",
        f"USER {UID}:{UID}",
        "WORKDIR /home/mlopsdsl",
        "",
    ]
    return "\n".join(lines)


def lock_text(image: Image, hashes: dict[str, list[str]] | None = None) -> str:
    """The lock of ``image`` in pip's requirements format; with ``hashes`` (name to sha256 digests) for
    every pin, pip checks each file it installs against them."""
    python = image.base.split(":", 1)[1].split("-", 1)[0]
    lines = [
        f"# The lock of {image.tag} (steps {', '.join(image.steps)}), for Python {python} on Linux.",
        "# Pinned by mlopsdsl build from the versions installed where it ran.",
    ]
    for name, version in image.pins:
        entry = f"{name}=={version}"
        for digest in (hashes or {}).get(name, []):
            entry += f" \\\n    --hash=sha256:{digest}"
        lines.append(entry)
    return "\n".join(lines) + "\n"


_FILE = re.compile(r"^(?P<name>[A-Za-z0-9_.]+?)-(?P<version>[^-]+?)(?:-.*\.whl|\.tar\.gz|\.zip)$")


def fetch_hashes(image: Image) -> tuple[dict[str, list[str]] | None, str]:
    """sha256 of the file pip picks for each pin, by downloading them (``pip download --no-deps``), or
    ``None`` and why not. All or nothing: pip checks hashes for every requirement or for none."""
    if not image.pins:
        return {}, ""
    if sys.platform != "linux":
        return None, "hashes are only taken on Linux, where pip picks the files the image installs"
    with tempfile.TemporaryDirectory(prefix="mlopsdsl-hashes-") as folder:
        requirements = os.path.join(folder, "requirements.txt")
        Path(requirements).write_text("".join(f"{n}=={v}\n" for n, v in image.pins), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
             "--dest", os.path.join(folder, "files"), "-r", requirements],
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["pip download failed"])[-1]
            return None, f"pip could not download every pinned file ({last})"
        hashes: dict[str, list[str]] = {}
        for entry in sorted(os.listdir(os.path.join(folder, "files"))):
            match = _FILE.match(entry)
            if match is None:
                continue
            from mlopsdsl.images._dists import canonical

            data = Path(folder, "files", entry).read_bytes()
            hashes.setdefault(canonical(match.group("name")), []).append(hashlib.sha256(data).hexdigest())
    lacking = [n for n, _ in image.pins if n not in hashes]
    if lacking:
        return None, f"pip gave no file for {', '.join(lacking)}"
    return hashes, ""


@dataclass(frozen=True)
class Written:
    """One context ``write_contexts`` wrote."""

    image: Image
    folder: Path
    hashed: bool
    note: str = ""


def write_contexts(plan: Plan, output: Path, hashes: bool = True) -> list[Written]:
    """Write one build context per image of ``plan`` under ``output``, and ``images.json`` listing them."""
    from mlopsdsl._files import write_atomic

    written: list[Written] = []
    output.mkdir(parents=True, exist_ok=True)
    for image in plan.images:
        folder = output / image.tag.rsplit(":", 1)[1]
        folder.mkdir(parents=True, exist_ok=True)
        found, note = fetch_hashes(image) if hashes else (None, "")
        write_atomic(folder / "Dockerfile", image.dockerfile)
        write_atomic(folder / "requirements.lock", lock_text(image, found))
        app = folder / "app"
        if app.exists():
            shutil.rmtree(app)  # files removed from the user's package must not linger in the image
        for relative, source in image.code:
            target = app / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, Path(source).read_bytes())
        written.append(Written(image, folder, bool(found) or not image.pins, note))
    summary = {
        "images": [
            {
                "tag": w.image.tag,
                "context": w.folder.name,
                "steps": list(w.image.steps),
                "lock": [f"{n}=={v}" for n, v in w.image.pins],
            }
            for w in written
        ],
        "steps": dict(sorted(plan.by_step.items())),
    }
    write_atomic(output / "images.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return written


BUILDERS = ("docker", "podman", "buildah")
"""The tools ``--push`` uses, in this order of preference, when on PATH."""


def push(written: list[Written]) -> list[str]:
    """Build and push each image with the first of :data:`BUILDERS` on PATH; the commands run, in order.

    Raises:
        BuildError: No builder is installed, or a build or push failed.
    """
    tool = next((t for t in BUILDERS if shutil.which(t)), None)
    if tool is None:
        raise BuildError(
            "--push needs docker (with buildx), podman or buildah on PATH, and none is; the build "
            "contexts are written: build them elsewhere with `docker buildx build --push -t TAG FOLDER`"
        )
    ran: list[str] = []
    for item in written:
        tag, folder = item.image.tag, str(item.folder)
        if tool == "docker":
            commands = [["docker", "buildx", "build", "--push", "--tag", tag, folder]]
        elif tool == "podman":
            commands = [["podman", "build", "--tag", tag, folder], ["podman", "push", tag]]
        else:
            commands = [["buildah", "build", "--tag", tag, folder], ["buildah", "push", tag]]
        for command in commands:
            ran.append(" ".join(command))
            done = subprocess.run(command, check=False)
            if done.returncode != 0:
                raise BuildError(f"`{' '.join(command)}` failed (exit {done.returncode})")
    return ran
