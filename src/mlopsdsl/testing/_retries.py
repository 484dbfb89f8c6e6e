"""How Argo's controller decides, after a failed attempt, whether and when to try again.

Both emulators use it: Argo's own ``retryStrategy``, and KFP's ``retryPolicy``, which KFP's backend hands
to Argo as a ``retryStrategy`` (its argocompiler: ``limit`` = ``maxRetryCount``; ``backoff.duration`` and
``backoff.maxDuration`` = the whole seconds of ``backoffDuration`` and ``backoffMaxDuration``, ``"0"`` when
absent; ``backoff.factor`` = the float ``backoffFactor`` as Go's ``%v`` prints it; no ``retryPolicy``, no
``expression``). So one model, written from the controller's rules, checks both compilers' output:

1. A failed attempt with a ``backoff``: if ``maxDuration`` has passed since the first attempt started,
   stop. The wait is ``duration * factor ** (attempts - 1)`` (``factor`` a whole number, read as Kubernetes
   reads an IntOrString; ignored unless above 0), at most ``cap``. If waiting would end after the
   ``maxDuration`` deadline, stop; otherwise, when ``limit`` allows another attempt, wait.
2. Then the ``retryPolicy`` (``Always``; ``OnFailure`` retries ``Failed`` attempts, ``OnError`` retries
   ``Error`` ones; without a policy: ``OnFailure``, or ``Always`` when there is an ``expression``), the
   ``limit`` (stop once ``limit + 1`` attempts were made), and the ``expression``, evaluated over
   ``retries``, ``lastRetry.exitCode``, ``lastRetry.status``, ``lastRetry.duration`` and
   ``lastRetry.message``: false stops.

A value the controller cannot read (a factor of ``1.5``, a bad duration) ends the task in ``Error`` with the
controller's message, as on a cluster. Durations are Argo's: a whole number is seconds, anything else a Go
duration (``"10s"``, ``"1m30s"``, ``"1.5h"``). Nothing sleeps: the waits are recorded (and a virtual clock
moves by them, and by each attempt's real duration), so tests compare schedules in no time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Attempt", "Verdict", "decide", "go_duration", "go_float", "kfp_strategy"]

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_INT = re.compile(r"[+-]?\d+")
_PROTO_DURATION = re.compile(r"(-?\d+)(?:\.(\d{1,9}))?s")


class ControllerError(Exception):
    """What Argo's controller reports when it cannot read a retry strategy (the task ends in ``Error``)."""


@dataclass
class Attempt:
    """One finished, failed attempt, on the emulator's clock (seconds)."""

    phase: str
    """``Failed`` (the container exited with a non-zero status) or ``Error`` (the pod did not end right)."""
    exit_code: str
    message: str
    started: float
    finished: float


@dataclass
class Verdict:
    """What the controller does next: wait ``wait`` seconds (0 for none), then retry or stop."""

    wait: float
    retry: bool
    phase: str = ""
    message: str = ""


def go_duration(text: str) -> float:
    """Seconds in Argo's duration: a bare whole number is seconds, else Go's ``time.ParseDuration``."""
    text = str(text)
    if _INT.fullmatch(text):
        return float(int(text))
    body = text[1:] if text[:1] in "+-" else text
    parts = _GO_PART.findall(body)
    if body == "0":
        return 0.0
    if not parts or "".join(a + b for a, b in parts) != body:
        raise ControllerError(f'unable to parse {text} as a duration: time: invalid duration "{text}"')
    seconds = sum(float(a) * _GO_UNITS[b] for a, b in parts)
    return -seconds if text.startswith("-") else seconds


def _int_or_string(value: Any, what: str) -> int:
    """A Kubernetes IntOrString read as an int, as Argo's ``intstr.Int32`` does (a string must be digits)."""
    if isinstance(value, bool):
        raise ControllerError(f"{what}: {value!r} is not an IntOrString")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT.fullmatch(value):
        return int(value)
    raise ControllerError(f"value '{value}' cannot be resolved to an int")


def go_float(value: float) -> str:
    """A float64 as Go's ``%v`` prints it: the shortest digits that read back the same, in exponent form
    when the decimal exponent is below -4 or at least 6 (``2``, ``1.5``, ``100000``, ``1e+06``)."""
    from decimal import Decimal

    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp = len(digits) + exponent - 1
    head = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{head}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if exponent >= 0:
        return head + text + "0" * exponent
    point = len(text) + exponent
    if point > 0:
        return f"{head}{text[:point]}.{text[point:]}"
    return f"{head}0.{'0' * -point}{text}"


def kfp_strategy(policy: dict[str, Any]) -> dict[str, Any]:
    """The ``retryStrategy`` KFP's backend gives the executor of a task with this ``retryPolicy``."""

    def seconds(duration: Any) -> str:
        if duration is None:
            return "0"  # the executor template's default for a field the task does not set
        match = _PROTO_DURATION.fullmatch(str(duration))
        if match is None:
            raise ControllerError(f"retryPolicy duration {duration!r} is not a protobuf Duration")
        return str(int(match.group(1)))  # Duration.Seconds: the nanos are dropped

    return {
        "limit": str(int(policy.get("maxRetryCount", 0))),
        "backoff": {
            "duration": seconds(policy.get("backoffDuration")),
            "factor": go_float(float(policy.get("backoffFactor", 0))),
            "maxDuration": seconds(policy.get("backoffMaxDuration")),
        },
    }


def _policy(strategy: dict[str, Any]) -> str:
    if strategy.get("retryPolicy"):
        return str(strategy["retryPolicy"])
    return "Always" if strategy.get("expression") else "OnFailure"


def decide(
    strategy: dict[str, Any],
    attempts: list[Attempt],
    now: float,
    evaluate: Callable[[str, dict[str, Any]], Any],
) -> Verdict:
    """What the controller does after the last of ``attempts`` failed, at time ``now``.

    Args:
        strategy: The ``retryStrategy``.
        attempts: Every attempt so far, all failed... or the last one failed; in order.
        now: The emulator's clock.
        evaluate: The ``expression`` evaluator of the emulator (Argo's ``expr`` subset it covers).
    """
    try:
        return _decide(strategy, attempts, now, evaluate)
    except ControllerError as exc:
        return Verdict(0.0, False, "Error", str(exc))


def _decide(
    strategy: dict[str, Any],
    attempts: list[Attempt],
    now: float,
    evaluate: Callable[[str, dict[str, Any]], Any],
) -> Verdict:
    last, count = attempts[-1], len(attempts)
    if "limit" not in strategy:
        raise ControllerError("a retryStrategy without a limit retries forever; the emulator does not")
    limit = _int_or_string(strategy["limit"], "limit")
    waited = 0.0
    backoff = strategy.get("backoff")
    if backoff is not None:
        deadline: float | None = None
        if backoff.get("maxDuration"):
            deadline = attempts[0].started + go_duration(backoff["maxDuration"])
            if now > deadline:
                return Verdict(0.0, False, last.phase, "Max duration limit exceeded")
        if not backoff.get("duration"):
            raise ControllerError("no base duration specified for retryStrategy")
        wait = go_duration(backoff["duration"])
        if backoff.get("factor") is not None:
            factor = _int_or_string(backoff["factor"], "factor")
            if factor > 0:
                wait = wait * factor ** (count - 1)
        if backoff.get("cap"):
            wait = min(wait, go_duration(backoff["cap"]))
        until = last.finished + wait
        if deadline is not None and until > deadline:
            return Verdict(0.0, False, last.phase, "Backoff would exceed max duration limit")
        if now < until and count <= limit:
            waited = until - now
    policy = _policy(strategy)
    retried = {"Always": ("Failed", "Error"), "OnFailure": ("Failed",), "OnError": ("Error",)}
    if policy == "OnTransientError":
        raise ControllerError("retryPolicy OnTransientError depends on the cluster's errors; not covered")
    if policy not in retried:
        raise ControllerError(f"{policy} is not a valid RetryPolicy")
    if last.phase not in retried[policy]:
        return Verdict(waited, False, last.phase, last.message)
    if count > limit:
        return Verdict(waited, False, last.phase, "No more retries left")
    expression = strategy.get("expression")
    if expression:
        scope = {
            "retries": str(count - 1),
            "lastRetry.exitCode": last.exit_code,
            "lastRetry.status": last.phase,
            "lastRetry.duration": str(last.finished - last.started),
            "lastRetry.message": last.message,
        }
        value = evaluate(expression, scope)
        if not isinstance(value, bool):
            raise ControllerError(f"retryStrategy.expression {expression!r} is not a boolean: {value!r}")
        if not value:
            return Verdict(waited, False, last.phase, "retryStrategy.expression evaluated to false")
    return Verdict(waited, True)
