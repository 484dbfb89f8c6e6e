"""The ``retryPolicy`` this compiler writes, as KFP's backend runs it (handed to Argo as a
``retryStrategy``, decided by the emulators' model of Argo's controller): the attempts and waits of
``ml.Retry``, whatever the exit status, and for as long as a step may run."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from hypothesis import given, settings
from kfp.pipeline_spec import pipeline_spec_pb2 as pb
from mlopsdsl_kfp._retry import retry_policy

import mlopsdsl as ml
from mlopsdsl.runtime import EXIT_FAILED, EXIT_NEVER_RETRY
from mlopsdsl.testing._cases import RETRIES, replay, schedule
from mlopsdsl.testing._retries import kfp_strategy


def _policy(retry: ml.Retry) -> dict[str, Any]:
    """The retryPolicy the compiler writes, as the package's JSON holds it."""
    task = pb.PipelineTaskSpec()
    retry_policy(task, retry)
    return dict(json_format.MessageToDict(task)["retryPolicy"])


def _no_expression(expression: str, scope: dict[str, Any]) -> Any:
    raise AssertionError(f"KFP's backend writes no expression, yet {expression!r} was evaluated")


def run(policy: dict[str, Any], exit_codes: list[int], seconds: float = 5.0) -> tuple[int, list[float]]:
    return replay(kfp_strategy(policy), exit_codes, _no_expression, seconds)


@settings(max_examples=60, deadline=None)
@given(RETRIES)
def test_the_policy_gives_the_schedule_of_retry(retry: ml.Retry) -> None:
    assert run(_policy(retry), [EXIT_FAILED] * retry.attempts) == schedule(retry)


def test_kfp_retries_whatever_the_exit_status() -> None:
    assert run(_policy(ml.Retry(attempts=3, backoff=2)), [EXIT_NEVER_RETRY] * 3) == (3, [2.0, 4.0])


def test_the_retry_window_keeps_the_retries_of_a_long_step() -> None:
    """The compiler's window (a year) keeps the attempts of a step that runs for hours; KFP's SDK default
    of one hour would have dropped them (tests/testing/test_emulated_retries.py)."""
    assert run(_policy(ml.Retry(attempts=3)), [EXIT_FAILED] * 3, seconds=4000) == (3, [])
