"""Property test (issue 6): random pipelines with maps and conditions compile to Argo documents that pass
every strict check, and ``run_argo`` gives the same outputs as the local runner and as plain Python. The
programs are the cases every compiler shares (:mod:`mlopsdsl.testing._cases`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from mlopsdsl_argo import ArgoBackend
from test_argo_compile import assert_valid

import mlopsdsl as ml
from mlopsdsl.testing import run_argo
from mlopsdsl.testing._cases import PARAMS, Op, flows, local_outputs, plain, random_pipeline


@settings(max_examples=10, deadline=None)
@given(ops=flows(), x=PARAMS, y=PARAMS)
def test_random_pipelines_agree_on_argo_locally_and_in_python(ops: list[Op], x: int, y: int) -> None:
    pipeline = random_pipeline(ops)
    want = {"output": plain(ops, [x, y])}
    text = ml.compile(pipeline, backend=ArgoBackend())
    assert_valid(text)
    assert local_outputs(pipeline, {"x": x, "y": y}) == want
    with tempfile.TemporaryDirectory() as tmp:
        emulated = run_argo(text, {"x": x, "y": y}, workdir=Path(tmp) / "argo")
    assert emulated.succeeded, emulated.logs
    assert emulated.outputs == want
