"""The emulators' model of how Argo's controller retries, which KFP's backend uses too (each compiler's
own tests run its output through it: ``compilers/*/tests/test_*_retries.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from mlopsdsl.testing._cases import replay_ends
from mlopsdsl.testing._retries import Attempt, decide, go_duration, go_float, kfp_strategy


def _no_expression(expression: str, scope: dict[str, Any]) -> Any:
    raise AssertionError(f"no expression here, yet {expression!r} was evaluated")


def run(strategy: dict[str, Any], phases: list[str], seconds: float = 5.0) -> tuple[int, list[float]]:
    """Attempts made and waits, for attempts that each run ``seconds`` and end in ``phases``."""
    return replay_ends(strategy, [(phase, "1", phase) for phase in phases], _no_expression, seconds)


def test_backoff_cap_window_limit_and_policy() -> None:
    base = {"limit": "5", "backoff": {"duration": "10", "factor": "2", "cap": "25s"}}
    assert run(base, ["Failed"] * 6) == (6, [10.0, 20.0, 25.0, 25.0, 25.0])
    window = {"limit": "5", "backoff": {"duration": "10s", "factor": "2", "maxDuration": "1m"}}
    assert run(window, ["Failed"] * 6, seconds=5) == (3, [10.0, 20.0])  # the next wait ends after 60 s
    on_error = {"limit": "5", "retryPolicy": "OnError"}
    assert run(on_error, ["Failed"] * 6) == (1, [])
    assert run(on_error, ["Error", "Error", "Failed"]) == (3, [])
    assert run({"limit": "1"}, ["Error", "Error"]) == (1, [])  # no policy, no expression: OnFailure


def test_what_the_controller_cannot_read_ends_the_task_in_error() -> None:
    for strategy, message in [
        ({"limit": "2", "backoff": {"duration": "1", "factor": "1.5"}}, "value '1.5' cannot be resolved"),
        ({"limit": "2", "backoff": {"duration": "soon"}}, "unable to parse soon as a duration"),
        ({"limit": "2", "backoff": {"factor": "2"}}, "no base duration specified"),
    ]:
        verdict = decide(strategy, [Attempt("Failed", "1", "", 0.0, 1.0)], 1.0, _no_expression)
        assert (verdict.retry, verdict.phase) == (False, "Error") and message in verdict.message


def test_kfp_reads_durations_as_whole_seconds_and_the_factor_as_go_prints_it() -> None:
    policy = {"maxRetryCount": 1, "backoffDuration": "1.500s", "backoffFactor": 1.5}
    assert kfp_strategy(policy) == {
        "limit": "1",
        "backoff": {"duration": "1", "factor": "1.5", "maxDuration": "0"},
    }
    window = {**policy, "backoffMaxDuration": "100s"}
    verdict = decide(kfp_strategy(window), [Attempt("Failed", "1", "", 0.0, 1.0)], 1.0, _no_expression)
    assert (verdict.retry, verdict.phase) == (False, "Error")
    assert verdict.message == "value '1.5' cannot be resolved to an int"


def test_kfp_without_a_retry_window_does_not_retry_at_all() -> None:
    """What KFP's backend does with a policy that leaves ``backoffMaxDuration`` out: it reads "0"."""
    policy = {"maxRetryCount": 2, "backoffDuration": "0s", "backoffFactor": 2.0}
    assert run(kfp_strategy(policy), ["Failed"] * 3) == (1, [])
    # The SDK's one-hour window drops the retries of a step that runs longer than an hour.
    hour = {**policy, "backoffMaxDuration": "3600s"}
    assert run(kfp_strategy(hour), ["Failed"] * 3, seconds=4000) == (1, [])


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
