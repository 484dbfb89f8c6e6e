"""The public surface: what `import mlopsdsl` exports, and what it must not import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mlopsdsl as ml

SRC = Path(ml.__file__).parent


def test_all_is_sorted_and_complete() -> None:
    assert ml.__all__ == sorted(ml.__all__)
    for name in ml.__all__:
        assert getattr(ml, name) is not None, name
    public = {n for n in dir(ml) if not n.startswith("_")}
    modules = {
        "artifacts",
        "errors",
        "ir",
        "backends",
        "naming",
        "options",
        "validate",
        "graph",
        "images",
        "cli",
        "runtime",
        "local",
        "lowering",
        "testing",
    }
    assert public - modules <= set(ml.__all__), public - modules - set(ml.__all__)


def test_unknown_attribute_raises_attribute_error() -> None:
    try:
        ml.nonexistent  # noqa: B018
    except AttributeError as exc:
        assert "nonexistent" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_is_light() -> None:
    """`import mlopsdsl` runs inside every step's container: it must not pull in pydantic or the CLI."""
    code = "import sys, mlopsdsl; print(sorted(m for m in ('pydantic', 'typer', 'rich', 'yaml', 'fsspec', 'cloudpickle') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_ir_and_authoring_never_import_a_backend() -> None:
    """The IR boundary: authoring and the IR know nothing of any backend or compiler."""
    layer = [
        "ir.py",
        "_step.py",
        "_pipeline.py",
        "_tracing.py",
        "_types.py",
        "_code.py",
        "_source.py",
        "_control.py",
        "options.py",
        "validate",
        "graph",
        "naming.py",
        "errors.py",
        "artifacts.py",
    ]
    forbidden = (
        "mlopsdsl.backends",
        "mlopsdsl_kfp",
        "mlopsdsl_argo",
        "kfp",
        "hera",
        "argo_workflows",
        "mlopsdsl.cli",
        "mlopsdsl.local",
    )
    files = [
        path
        for name in layer
        for path in ([SRC / name] if name.endswith(".py") else (SRC / name).rglob("*.py"))
    ]
    assert len(files) > len(layer)  # the packages were found
    for path in files:
        bad = {m for m in _imports(path) if m.startswith(forbidden)}
        assert not bad, f"{path.relative_to(SRC)} imports {bad}"


def test_core_never_imports_a_compiler() -> None:
    for path in SRC.rglob("*.py"):
        bad = {m for m in _imports(path) if m.startswith(("mlopsdsl_kfp", "mlopsdsl_argo", "kfp", "hera"))}
        assert not bad, f"{path.relative_to(SRC)} imports {bad}"
