"""Retries on KFP: the ``retryPolicy`` of a task, and the never-retry marker of a step that needs one.

KFP's backend hands a task's ``retryPolicy`` to Argo as the ``retryStrategy`` of its executor: ``limit``
is ``maxRetryCount``, ``backoff.duration`` and ``backoff.maxDuration`` are the *whole seconds* of
``backoffDuration`` and ``backoffMaxDuration`` (``"0"`` for a field the task leaves out), ``backoff.factor``
is ``backoffFactor`` as Go prints a float, and there is no ``expression``: a failed attempt is retried
whatever its exit status. So:

* the schedule is exactly ``ml.Retry``'s (``Retry`` accepts only whole seconds and whole factors);
* ``backoffMaxDuration`` is not a cap on one wait but a *retry window*, counted from the first attempt's
  start, after which no retry starts. Left out, it reads as ``0`` and no retry ever happens; the KFP SDK
  writes one hour, which drops the retries of any step that runs longer. We write
  :data:`RETRY_WINDOW`, longer than any run, so that the attempts are the ones ``Retry`` says;
* an error that retrying cannot fix is retried anyway. Errors the runtime finds before the step's function
  runs are found again at once by the next attempt; but an exception listed in ``Retry(stop_on=...)``
  would run the function again. For those steps the runtime keeps a *marker* in ``store`` (a compile
  option): the call spec names it by the URI KFP gives the task's output artifact :data:`MARKER_OUTPUT`,
  which is one per execution of the task (loop iterations included) and the same for all of its
  attempts. Without ``store`` such a step is a located :class:`~mlopsdsl.errors.CompileError`;
* a pod never learns which attempt it is (there is no ``{{retries}}``), which an element of a tolerant map
  needs to know (its last attempt reports the failure instead of failing): such a step that retries counts
  its attempts in ``store`` under the same key (``ROOT/attempts/...``), so it needs ``store`` too.
"""

from __future__ import annotations

from typing import Any

from mlopsdsl import ir
from mlopsdsl.errors import CompileError

__all__ = ["MARKER_OUTPUT", "RETRY_WINDOW", "marker_spec", "needs_counter", "needs_marker", "retry_policy"]

RETRY_WINDOW = 365 * 86400
"""``backoffMaxDuration``, in seconds: a year, so that KFP's retry window never ends the retries early."""

MARKER_OUTPUT = "mlopsdsl--retry"
"""The output artifact (an empty file) whose URI identifies one execution of a task across its attempts.
``--`` cannot occur in a Python name, so it never collides with a step's own output."""


def retry_policy(spec: Any, retry: ir.Retry | None) -> None:
    """Set the ``retryPolicy`` of the task ``spec`` for ``retry``."""
    if retry is None or retry.attempts <= 1:
        return
    policy = spec.retry_policy
    policy.max_retry_count = retry.attempts - 1
    policy.backoff_duration.FromSeconds(int(retry.backoff))
    policy.backoff_factor = retry.factor
    policy.backoff_max_duration.FromSeconds(RETRY_WINDOW)


def needs_marker(step: ir.StepSpec, store: str | None) -> bool:
    """True when ``step``'s attempts must leave word for each other; a located error when they cannot."""
    retry = step.options.retry
    if retry is None or retry.attempts <= 1 or not retry.stop_on:
        return False
    if store is None:
        raise CompileError(
            f"step {step.name!r} retries but stops on {', '.join(retry.stop_on)}: KFP starts a failed "
            "step again whatever the error, so the step's later attempts must find a marker the failed "
            "one left; give the compile option store, an fsspec URL or a folder every pod mounts "
            "(ml.compile(..., store='s3://bucket/prefix'), or -O store=s3://bucket/prefix) to keep it "
            "there (docs/kfp.md, 'Retries')",
            "kfp",
            location=step.location,  # the @ml.step(...) that holds the Retry
        )
    return True


def needs_counter(step: ir.StepSpec, attempts: int, store: str | None) -> bool:
    """True when ``step``, an element of a tolerant map, must count its attempts in the store (it retries,
    and KFP tells a pod nothing of which attempt it is); a located error when there is no store."""
    if attempts <= 1:
        return False
    if store is None:
        raise CompileError(
            f"step {step.name!r} is mapped with allow_failures/min_success and retries: its last attempt "
            "must report the failure instead of failing, and KFP tells a pod nothing of which attempt it "
            "is, so the attempts count themselves in a store; give the compile option store, an fsspec URL "
            "or a folder every pod mounts (ml.compile(..., store='s3://bucket/prefix'), or -O "
            "store=s3://bucket/prefix) (docs/kfp.md, 'Tolerant maps')",
            "kfp",
            location=step.location,
        )
    return True


def marker_spec(store: str) -> dict[str, Any]:
    """The ``marker`` of a call spec: keyed by the URI KFP gives :data:`MARKER_OUTPUT`."""
    return {
        "root": store,
        "key": f"{{{{$.outputs.artifacts['{MARKER_OUTPUT}'].uri}}}}",
        "touch": f"{{{{$.outputs.artifacts['{MARKER_OUTPUT}'].path}}}}",
    }
