"""A cold command loads what it uses: pydantic only to read or describe a document, never to build one.

A pipeline with every kind of type and option the IR holds (a dataclass, an enum, lists and dicts, an
artifact, an optional, a NamedTuple, resources, retries, secrets, pod settings, a schedule, a condition
and a map) is compiled for each backend, validated and run in a fresh process, and the process is asked
which of these libraries it loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PIPELINE = textwrap.dedent(
    """
    import dataclasses
    import enum
    from typing import NamedTuple

    import mlopsdsl as ml


    class Colour(enum.Enum):
        RED = "red"
        BLUE = "blue"


    @dataclasses.dataclass
    class Config:
        rate: float
        names: list[str]


    class Split(NamedTuple):
        train: list[float]
        test: list[float]


    @ml.step(
        resources=ml.Resources(cpu="500m", memory="1Gi"),
        retry=ml.Retry(attempts=3, backoff="1s"),
        timeout="5m",
        env={"MODE": "fast"},
        pod=ml.Pod(run_as_user=1000, image_pull_policy="IfNotPresent"),
        node_selector={"pool": "cpu"},
        cache_ignore=["note"],
    )
    def make(config: Config, colour: Colour, note: str | None = None) -> Split:
        return Split([config.rate], [float(len(config.names))])


    @ml.step
    def write(values: list[float], extra: dict[str, int]) -> ml.Dataset:
        out = ml.Dataset.new("values.txt")
        with open(out.path, "w") as handle:
            handle.write(str(values))
        return out


    @ml.step
    def size(data: ml.Dataset) -> int:
        with open(data.path) as handle:
            return len(handle.read())


    @ml.step
    def double(x: float) -> float:
        return 2 * x


    @ml.step
    def configure(rate: float) -> Config:
        return Config(rate=rate, names=["a"])


    @ml.pipeline(schedule=ml.Schedule("0 3 * * *", timezone="Europe/Paris"))
    def rich(rate: float = 0.5) -> list[float]:
        split = make(config=configure(rate=rate), colour=Colour.RED)
        doubled = double.map(x=split.train)
        with ml.when(rate > 0.1):
            size(data=write(values=doubled, extra={"k": 1}))
        return doubled
    """
)

CHECK = """
import sys
try:
    sys.argv[0] = "mlopsdsl"
    from mlopsdsl.cli import main
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"pydantic", "pydantic_core", "typer", "yaml"})
print("LOADED", code, " ".join(loaded) or "-")
"""


def loaded(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    env = {**os.environ, "MLOPSDSL_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, "-c", CHECK, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("LOADED"))
    _, code, names = line.split(" ", 2)
    return int(code), set(names.split()) - {"-"}


@pytest.mark.parametrize("backend", ["ir", "argo", "kfp"])
def test_compiling_builds_the_ir_without_pydantic(tmp_path: Path, backend: str) -> None:
    pytest.importorskip(f"mlopsdsl_{backend}") if backend != "ir" else None
    (tmp_path / "rich.py").write_text(PIPELINE)
    code, names = loaded(tmp_path, "compile", "rich.py", "--backend", backend, "-o", f"out.{backend}")
    assert code == 0
    assert (tmp_path / f"out.{backend}").stat().st_size > 0
    assert not names & {"pydantic", "pydantic_core"}


def test_validating_and_running_build_the_ir_without_pydantic(tmp_path: Path) -> None:
    (tmp_path / "rich.py").write_text(PIPELINE)
    assert loaded(tmp_path, "validate", "rich.py")[0] == 0
    code, names = loaded(tmp_path, "run", "rich.py", "--in-process")
    assert code == 0
    assert not names & {"pydantic", "pydantic_core"}


def test_reading_a_document_back_validates_it_with_pydantic(tmp_path: Path) -> None:
    """The other side: what comes from outside goes through pydantic, so the check is not skipped."""
    (tmp_path / "rich.py").write_text(PIPELINE)
    assert loaded(tmp_path, "compile", "rich.py", "-o", "rich.json")[0] == 0
    code = "import sys; from mlopsdsl import ir; ir.Document.from_json(open('rich.json').read()); print(sorted(m for m in sys.modules if m == 'pydantic'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.stdout.strip() == "['pydantic']", result.stderr
