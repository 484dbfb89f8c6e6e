"""Writing files so that a reader never sees half of one: write a temporary sibling, then rename."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Replace ``path`` with ``data`` in one step; on any error the old file (or no file) remains."""
    target = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = _sibling(target)
    try:
        mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _sibling(target: Path) -> tuple[int, str]:
    """A new file beside ``target``, open for writing, and its name: ``.NAME.PID-RANDOM.tmp``
    (:func:`~mlopsdsl.runtime._io.temporary_name`, whose pid lets the next run's sweep tell a dead writer's
    leftover from a live one's). Made as :func:`tempfile.mkstemp` makes its files (exclusive creation,
    owner-only until chmod), without importing :mod:`tempfile`, which costs a cold command several
    milliseconds.
    """
    from mlopsdsl.runtime._io import temporary_name

    hidden = os.path.join(str(target.parent or "."), "." + target.name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        name = temporary_name(hidden)
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")
