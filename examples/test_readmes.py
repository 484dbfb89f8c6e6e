"""Each example's README keeps its promises: every ``mlopsdsl`` command it shows runs, from the root of the
repository, as a reader would type it; every example package has a README that shows its picture."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import ROOT, cli

READMES = sorted((ROOT / "examples").glob("*/README.md"))


def commands(readme: Path) -> list[str]:
    """The ``mlopsdsl ...`` lines of the README's shell blocks."""
    found, in_shell = [], False
    for line in readme.read_text().splitlines():
        if line.startswith("```"):
            in_shell = not in_shell and line.strip() in ("```bash", "```sh")
        elif in_shell and line.startswith("mlopsdsl "):
            found.append(re.sub(r"\s+#.*$", "", line))
    return found


CASES = [(readme, command) for readme in READMES for command in commands(readme)]


def test_every_example_has_a_readme() -> None:
    packages = {p.parent for p in (ROOT / "examples").glob("*/__init__.py")}
    assert packages and packages <= {r.parent for r in READMES}
    for readme in READMES:
        if (readme.parent / "pipeline.svg").is_file():
            assert "](pipeline.svg)" in readme.read_text(), f"{readme} does not show its picture"
    assert len(CASES) >= 6


@pytest.mark.parametrize(("readme", "command"), CASES, ids=[f"{r.parent.name}:{c}" for r, c in CASES])
def test_readme_command_runs(
    readme: Path, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPSDSL_HOME", str(tmp_path / "home"))  # run records go here, not into the clone
    words = [w.replace("/tmp/", f"{tmp_path}/") for w in shlex.split(command)[1:]]
    result = cli(*words)
    assert result.stdout.strip(), "each command shown prints what it made (outputs, a picture, a document)"
