"""Golden files: every pipeline in `examples/`, compiled by every installed backend.

`python tests/golden.py --update` (the `golden` nox session) rewrites them; tests only compare. Examples
are found by walking the folder, so a new example is covered without editing a list.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).parent / "golden"


def example_files() -> list[Path]:
    """The pipeline modules of `examples/`: not the examples' own tests (run by the `examples` nox session),
    private modules, or the scripts an example ships (under a `scripts/` folder)."""
    return sorted(
        p
        for p in EXAMPLES.rglob("*.py")
        if not p.name.startswith(("_", "test_"))
        and p.name != "conftest.py"
        and "scripts" not in p.relative_to(EXAMPLES).parts
    )


def compiling_backends() -> list[str]:
    from mlopsdsl import backends

    names = []
    for info in backends.available():
        backend = backends.load(info.name)
        if isinstance(backend, backends.Backend):
            names.append(info.name)
    return names


def cases() -> Iterator[tuple[Path, str, str]]:
    """(example file, pipeline variable name, backend) for every pipeline in every example."""
    from mlopsdsl._target import import_target_module, pipelines_in

    for path in example_files():
        module = import_target_module(str(path))
        for name in pipelines_in(module):
            for backend in compiling_backends():
                yield path, name, backend


def golden_path(path: Path, name: str, backend: str) -> Path:
    from mlopsdsl import backends

    suffix = backends.load(backend).file_suffix
    stem = path.relative_to(EXAMPLES).with_suffix("").as_posix().replace("/", ".")
    return GOLDEN / f"{stem}.{name}.{backend}{suffix}"


def render(path: Path, name: str, backend: str) -> str:
    import mlopsdsl as ml
    from mlopsdsl._target import load_pipeline

    return ml.compile(load_pipeline(f"{path}:{name}"), backend=backend)


def update() -> None:
    import json

    from mlopsdsl import ir
    from mlopsdsl._files import write_atomic

    GOLDEN.mkdir(exist_ok=True)
    expected = set()
    for path, name, backend in cases():
        target = golden_path(path, name, backend)
        expected.add(target)
        write_atomic(target, render(path, name, backend))
        print(f"wrote {target.relative_to(ROOT)}")
    for stale in set(GOLDEN.iterdir()) - expected:
        stale.unlink()
        print(f"removed {stale.relative_to(ROOT)}")
    schema = ROOT / "docs" / "ir.schema.json"
    write_atomic(schema, json.dumps(ir.json_schema(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {schema.relative_to(ROOT)}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/golden.py --update")
    update()
