"""Every example compiles, by every backend, to exactly its committed golden file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import golden

CASES = list(golden.cases())


def test_every_example_has_a_pipeline() -> None:
    assert {path for path, _, _ in CASES} == set(golden.example_files())


@pytest.mark.parametrize(("path", "name", "backend"), CASES, ids=[f"{p.stem}:{n}:{b}" for p, n, b in CASES])
def test_matches_golden(path: Path, name: str, backend: str) -> None:
    target = golden.golden_path(path, name, backend)
    assert target.exists(), f"no golden file {target.name}; run `nox -s golden`"
    assert golden.render(path, name, backend) == target.read_text(), (
        f"{target.name} differs; if the change is intended, run `nox -s golden` and review the diff"
    )


def test_no_stale_golden_files() -> None:
    expected = {golden.golden_path(p, n, b) for p, n, b in CASES}
    assert set(golden.GOLDEN.iterdir()) <= expected
