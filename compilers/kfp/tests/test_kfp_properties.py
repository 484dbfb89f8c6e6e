"""Property test (issue 6): random DAGs with maps and conditions compile to KFP documents that pass every
strict check, the same bytes twice, and, run by ``mlopsdsl.testing.run_kfp``, give what the local runner
and plain Python give. The programs are the cases every compiler shares (:mod:`mlopsdsl.testing._cases`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from mlopsdsl_kfp._validate import validate

import mlopsdsl as ml
from mlopsdsl.testing import run_kfp
from mlopsdsl.testing._cases import PARAMS, Op, flows, local_outputs, plain, random_pipeline


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=flows(), x=PARAMS, y=PARAMS)
def test_random_flows_agree_with_the_local_runner(ops: list[Op], x: int, y: int) -> None:
    pipeline = random_pipeline(ops)
    want = {"output": plain(ops, [x, y])}
    text = ml.compile(pipeline, backend="kfp", functions=pipeline.step_functions())
    assert validate(text) == []
    assert text == ml.compile(pipeline, backend="kfp", functions=pipeline.step_functions())
    assert local_outputs(pipeline, {"x": x, "y": y}) == want
    with tempfile.TemporaryDirectory() as folder:
        emulated = run_kfp(text, {"x": x, "y": y}, workdir=Path(folder) / "kfp")
    assert emulated.status == "Succeeded", emulated.logs
    assert emulated.outputs == want
