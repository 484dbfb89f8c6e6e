"""The emulators' model of how Argo's controller retries (which KFP's backend uses too), and proof that
what both compilers write gives, under that model, exactly the attempts and waits of ``ml.Retry``."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlopsdsl as ml
from mlopsdsl.errors import DefinitionError
from mlopsdsl.runtime import EXIT_FAILED, EXIT_NEVER_RETRY
from mlopsdsl.testing._argo import evaluate
from mlopsdsl.testing._retries import Attempt, decide, go_duration, go_float, kfp_strategy


def _kfp_policy(retry: ml.Retry) -> dict[str, Any]:
    """The retryPolicy the KFP compiler writes, as the package's JSON holds it."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2 as pb
    from mlopsdsl_kfp._retry import retry_policy

    task = pb.PipelineTaskSpec()
    retry_policy(task, retry)
    return dict(json_format.MessageToDict(task)["retryPolicy"])


def _argo_strategy(retry: ml.Retry) -> dict[str, Any]:
    from mlopsdsl_argo._templates import retry_strategy

    strategy = retry_strategy(retry)
    assert strategy is not None
    return strategy


def _run(strategy: dict[str, Any], exit_codes: list[int], seconds: float = 5.0) -> tuple[int, list[float]]:
    """Attempts made and waits, for attempts that each run ``seconds`` and fail with ``exit_codes``."""
    clock, failed, waits = 0.0, [], []
    for code in exit_codes:
        failed.append(Attempt("Failed", str(code), f"Error (exit code {code})", clock, clock + seconds))
        clock += seconds
        verdict = decide(strategy, failed, clock, evaluate)
        if verdict.wait:
            waits.append(verdict.wait)
            clock += verdict.wait
        if not verdict.retry:
            break
    return len(failed), waits


retries = st.builds(
    lambda attempts, backoff, factor: (attempts, backoff, factor),
    st.integers(2, 6),
    st.integers(0, 600),
    st.integers(1, 6),
)


@settings(max_examples=60, deadline=None)
@given(retries)
def test_both_compilers_give_the_schedule_of_retry(config: tuple[int, int, int]) -> None:
    attempts, backoff, factor = config
    try:
        retry = ml.Retry(attempts=attempts, backoff=backoff, factor=factor)
    except DefinitionError:
        return  # a schedule Retry refuses (a wait over 7 days)
    failing = [EXIT_FAILED] * attempts
    expected_waits = retry.schedule() if backoff else []
    assert _run(_argo_strategy(retry), failing) == (attempts, expected_waits)
    assert _run(kfp_strategy(_kfp_policy(retry)), failing) == (attempts, expected_waits)


def test_argo_evaluates_the_expression_the_compiler_writes() -> None:
    strategy = _argo_strategy(ml.Retry(attempts=4, backoff=10, factor=3))
    assert strategy["expression"] == f"lastRetry.exitCode != '{EXIT_NEVER_RETRY}'"
    # Failed for good on the second attempt: Argo waits its backoff, then finds it may not retry.
    assert _run(strategy, [EXIT_FAILED, EXIT_NEVER_RETRY, EXIT_FAILED]) == (2, [10.0, 30.0])
    # The expression is evaluated, not recognised: another one decides otherwise.
    other = {**strategy, "expression": "retries == '0' || lastRetry.status == 'Error'"}
    assert _run(other, [EXIT_FAILED, EXIT_FAILED, EXIT_FAILED]) == (2, [10.0, 30.0])
    negated = {**strategy, "expression": "!(lastRetry.exitCode == '1')"}
    assert _run(negated, [EXIT_NEVER_RETRY, EXIT_NEVER_RETRY, EXIT_FAILED]) == (3, [10.0, 30.0, 90.0])


def test_kfp_retries_whatever_the_exit_status() -> None:
    strategy = kfp_strategy(_kfp_policy(ml.Retry(attempts=3, backoff=2)))
    assert "expression" not in strategy and "retryPolicy" not in strategy
    assert _run(strategy, [EXIT_NEVER_RETRY] * 3) == (3, [2.0, 4.0])


def test_kfp_without_a_retry_window_does_not_retry_at_all() -> None:
    """Why the compiler always writes backoffMaxDuration: KFP's backend defaults it to "0"."""
    policy = {"maxRetryCount": 2, "backoffDuration": "0s", "backoffFactor": 2.0}
    assert kfp_strategy(policy)["backoff"]["maxDuration"] == "0"
    assert _run(kfp_strategy(policy), [EXIT_FAILED] * 3) == (1, [])
    # The SDK's one-hour window drops the retries of a step that runs longer than an hour.
    hour = {**policy, "backoffMaxDuration": "3600s"}
    assert _run(kfp_strategy(hour), [EXIT_FAILED] * 3, seconds=4000) == (1, [])
    assert _run(kfp_strategy(_kfp_policy(ml.Retry(attempts=3))), [EXIT_FAILED] * 3, seconds=4000) == (3, [])


def test_kfp_reads_durations_as_whole_seconds_and_the_factor_as_go_prints_it() -> None:
    policy = {"maxRetryCount": 1, "backoffDuration": "1.500s", "backoffFactor": 1.5}
    strategy = kfp_strategy(policy)
    assert strategy["backoff"] == {"duration": "1", "factor": "1.5", "maxDuration": "0"}
    window = {**policy, "backoffMaxDuration": "100s"}
    verdict = decide(kfp_strategy(window), [Attempt("Failed", "1", "", 0.0, 1.0)], 1.0, evaluate)
    assert (verdict.retry, verdict.phase) == (False, "Error")
    assert verdict.message == "value '1.5' cannot be resolved to an int"


def test_backoff_cap_window_limit_and_policy() -> None:
    base = {"limit": "5", "backoff": {"duration": "10", "factor": "2", "cap": "25s"}}
    assert _run(base, [1] * 6) == (6, [10.0, 20.0, 25.0, 25.0, 25.0])
    window = {"limit": "5", "backoff": {"duration": "10s", "factor": "2", "maxDuration": "1m"}}
    assert _run(window, [1] * 6, seconds=5) == (3, [10.0, 20.0])  # the next wait ends after 60 s
    on_error = {"limit": "5", "retryPolicy": "OnError"}
    assert _run(on_error, [1] * 6) == (1, [])
    error = decide(on_error, [Attempt("Error", "-1", "pod deleted", 0.0, 1.0)], 1.0, evaluate)
    assert error.retry


@pytest.mark.parametrize(
    ("value", "text"),
    [(2.0, "2"), (1.5, "1.5"), (100000.0, "100000"), (1e6, "1e+06"), (0.0001, "0.0001"), (1e-05, "1e-05")],
)
def test_floats_print_as_go_prints_them(value: float, text: str) -> None:
    assert go_float(value) == text


def test_durations_read_as_argo_reads_them() -> None:
    assert [go_duration(t) for t in ("10", "10s", "1m30s", "1.5h", "500ms", "0")] == [
        10.0,
        10.0,
        90.0,
        5400.0,
        0.5,
        0.0,
    ]
