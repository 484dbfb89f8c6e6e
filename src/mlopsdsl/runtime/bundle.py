"""The runtime as one small zip, for images that have Python and nothing else.

A stock ``python:3.X-slim`` image has neither mlopsdsl nor cloudpickle, and pods may have no network. The
runtime is pure standard library, so a compiler ships :func:`bundle` (the runtime package, the artifact
classes, a stub ``mlopsdsl/__init__.py`` and a copy of cloudpickle, deflated: tens of kilobytes) with the
pipeline, writes it to a file in the pod and runs :data:`BOOTSTRAP`; Python imports straight from the zip
(``zipimport``). The bytes are deterministic (sorted entries, fixed timestamps), so compiled documents stay
byte-identical. Images that install mlopsdsl need none of this: they run ``python -m mlopsdsl.runtime``.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

__all__ = ["BOOTSTRAP", "bundle", "bundle_files"]

BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); from mlopsdsl.runtime import main; "
    "sys.exit(main(sys.argv[1:]))"
)
"""``python -c BOOTSTRAP BUNDLE.zip SPEC.json [--arg ...]`` runs a step from the bundle."""

_STUB_INIT = '''"""mlopsdsl, as bundled with the step runtime: runtime, artifact classes, tracking."""


def __getattr__(name):
    if name in ("Artifact", "Dataset", "Model", "Markdown", "HTML", "ClassificationMetrics"):
        from mlopsdsl import artifacts

        return getattr(artifacts, name)
    if name in ("current", "log_metric", "log_metrics"):
        from mlopsdsl.runtime import tracking

        return getattr(tracking, name)
    raise AttributeError(f"module 'mlopsdsl' has no attribute {name!r} (this is the runtime bundle)")
'''

_PRODUCER_ONLY = {"bundle.py", "payload.py", "_pickler.py"}


def bundle_files(include_cloudpickle: bool = True) -> dict[str, bytes]:
    """The bundle's files by archive name."""
    here = Path(__file__).parent
    files: dict[str, bytes] = {"mlopsdsl/__init__.py": _STUB_INIT.encode()}
    files["mlopsdsl/artifacts.py"] = (here.parent / "artifacts.py").read_bytes()
    for path in sorted(here.glob("*.py")):
        if path.name not in _PRODUCER_ONLY:
            files[f"mlopsdsl/runtime/{path.name}"] = path.read_bytes()
    if include_cloudpickle:
        import cloudpickle  # type: ignore[import-untyped]

        folder = Path(os.path.dirname(cloudpickle.__file__))
        for path in sorted(folder.glob("*.py")):
            files[f"cloudpickle/{path.name}"] = path.read_bytes()
    return files


def bundle(include_cloudpickle: bool = True) -> bytes:
    """The runtime bundle as zip bytes, identical for the same mlopsdsl and cloudpickle versions.

    Args:
        include_cloudpickle: Add cloudpickle (needed to load by-value steps). Leave it out for images
            whose steps all ship in import mode.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in sorted(bundle_files(include_cloudpickle).items()):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()
