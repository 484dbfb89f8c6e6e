"""Property: random pipelines with maps and conditions build without problems, and the local runner gives
what plain Python gives. (The KFP and Argo emulators are held to the same programs in their own tests.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlopsdsl as ml

sys.path.insert(0, str(Path(__file__).parent))
from random_pipelines import Statement, expected, pipeline_source, programs


def load(source: str, folder: Path, name: str) -> ml.Pipeline:  # type: ignore[type-arg]
    path = folder / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    pipeline = module.random_pipeline
    assert isinstance(pipeline, ml.Pipeline)
    return pipeline


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=programs(), seed=st.integers(-3, 5))
def test_local_runner_agrees_with_plain_python(program: list[Statement], seed: int, tmp_path: Path) -> None:
    name = f"random_{abs(hash((tuple(program), seed)))}"
    try:
        pipeline = load(pipeline_source(program), tmp_path, name)
        assert pipeline.problems() == []
        result = ml.run(
            pipeline, seed=seed, home=tmp_path / name, progress=False, in_process=True, cache=False
        )
        assert result.output == expected(program, seed)
    finally:
        sys.modules.pop(name, None)


def test_the_generator_covers_maps_and_conditions() -> None:
    program = [
        Statement("rng", "v0", ("seed",)),
        Statement("map", "v1", ("v0",)),
        Statement("total", "v2", ("v1",)),
        Statement("branch", "v3", ("v2", "seed"), 1),
    ]
    source = pipeline_source(program)
    assert "dbl.map(x=v0)" in source and "ml.when(v2 > 1)" in source and "ml.one_of(v3_yes, v3_no)" in source
    assert expected(program, seed=3) == 3 + 1  # range(3) doubled sums to 6 > 1
