"""The ``retryStrategy`` this compiler writes, run through the emulators' model of Argo's controller:
the attempts and waits of ``ml.Retry``, and no retry after the runtime's "failed for good" status, decided
by evaluating the expression the compiler wrote."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from mlopsdsl_argo._templates import retry_strategy
from mlopsdsl_argo.testing import evaluate

import mlopsdsl as ml
from mlopsdsl.runtime import EXIT_FAILED, EXIT_NEVER_RETRY
from mlopsdsl.testing._cases import RETRIES, replay, schedule


def _strategy(retry: ml.Retry) -> dict[str, Any]:
    strategy = retry_strategy(retry)
    assert strategy is not None
    return strategy


def run(strategy: dict[str, Any], exit_codes: list[int]) -> tuple[int, list[float]]:
    """Attempts made and waits, for attempts that exit with ``exit_codes``, the expression evaluated."""
    return replay(strategy, exit_codes, evaluate)


@settings(max_examples=60, deadline=None)
@given(RETRIES)
def test_the_strategy_gives_the_schedule_of_retry(retry: ml.Retry) -> None:
    assert run(_strategy(retry), [EXIT_FAILED] * retry.attempts) == schedule(retry)


def test_the_expression_the_compiler_writes_is_evaluated() -> None:
    strategy = _strategy(ml.Retry(attempts=4, backoff=10, factor=3))
    assert strategy["expression"] == f"lastRetry.exitCode != '{EXIT_NEVER_RETRY}'"
    # Failed for good on the second attempt: Argo waits its backoff, then finds it may not retry.
    assert run(strategy, [EXIT_FAILED, EXIT_NEVER_RETRY, EXIT_FAILED]) == (2, [10.0, 30.0])
    # Evaluated, not recognised: another expression decides otherwise.
    other = {**strategy, "expression": "retries == '0' || lastRetry.status == 'Error'"}
    assert run(other, [EXIT_FAILED] * 3) == (2, [10.0, 30.0])
    negated = {**strategy, "expression": "!(lastRetry.exitCode == '1')"}
    assert run(negated, [EXIT_NEVER_RETRY, EXIT_NEVER_RETRY, EXIT_FAILED]) == (3, [10.0, 30.0, 90.0])
