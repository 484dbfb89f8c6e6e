"""Recurring runs: ``mlopsdsl publish --schedule`` (or ``@ml.pipeline(schedule=...)``) on KFP.

KFP's API has no update for a recurring run, only create, delete, enable and disable. So publishing finds the
recurring run named after the pipeline and compares what it holds (trigger, concurrency, catch-up, the
pipeline version, the service account) with what the schedule asks: the same, nothing is done; only
``enabled`` differs, it is enabled or disabled; anything else, it is replaced (deleted, then created), so a
schedule never runs an old version after the pipeline was published anew.

KFP reads a cron with a seconds field first (robfig/cron), in the API server's time zone; ``@every``
becomes a periodic trigger. What KFP has no form for (a time zone, a run that replaces the running one, a
starting deadline, history limits, no limit on concurrency) is a located
:class:`~mlopsdsl.errors.CompileError` before the server is contacted
(:func:`mlopsdsl.lowering.check_schedule`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass
from mlopsdsl.lowering import MACROS, check_schedule
from mlopsdsl.options import parse_duration

__all__ = ["Trigger", "check", "trigger_of"]

MAX_CONCURRENCY = 10
"""The most overlapping runs KFP's API accepts for a recurring run."""


def _timezone(schedule: ir.Schedule) -> str | None:
    if schedule.timezone in (None, "UTC", "Etc/UTC"):
        return None
    return "KFP reads a recurring run's cron in the API server's time zone (UTC); write the cron in UTC"


def _limit(schedule: ir.Schedule) -> str | None:
    limit = schedule.max_concurrency
    if limit is not None and limit <= MAX_CONCURRENCY:
        return None
    return f"KFP runs at most {MAX_CONCURRENCY} runs of a recurring run at once; give 1 to {MAX_CONCURRENCY}"


def _replace(schedule: ir.Schedule) -> str | None:
    if not schedule.replace_running:
        return None
    return "KFP never stops a running run for a due one; a due run waits for max_concurrency"


_REASONS: dict[str, Callable[[ir.Schedule], str | None]] = {
    "timezone": _timezone,
    "max_concurrency": _limit,
    "replace_running": _replace,
    "catch_up": lambda s: None,
    "enabled": lambda s: None,
}


def check(document: ir.Document, schedule: ir.Schedule) -> None:
    """Raise a located CompileError for every setting of ``schedule`` that KFP cannot honour."""
    check_schedule(document, schedule, "kfp", _REASONS)


@dataclass(frozen=True)
class Trigger:
    """A recurring run's trigger: a six-field cron, or a period in whole seconds."""

    cron: str | None = None
    interval: int | None = None

    def arguments(self) -> dict[str, Any]:
        """The ``kfp.Client.create_recurring_run`` arguments of this trigger."""
        if self.cron is not None:
            return {"cron_expression": self.cron}
        return {"interval_second": self.interval}

    def matches(self, held: Any) -> bool:
        """True when ``held`` (a ``V2beta1Trigger`` the server returned) is this trigger."""
        cron = getattr(getattr(held, "cron_schedule", None), "cron", None)
        period = getattr(getattr(held, "periodic_schedule", None), "interval_second", None)
        if self.cron is not None:
            return bool(cron == self.cron)
        return period is not None and int(period) == self.interval


def trigger_of(cron: str) -> Trigger:
    """KFP's trigger for a cron as users write it: five fields, a macro, or ``@every DURATION``."""
    text = cron.strip()
    if text.startswith("@every "):
        return Trigger(interval=max(1, round(parse_duration(text.removeprefix("@every ").strip(), "@every"))))
    fields = MACROS.get(text, text)
    if len(fields.split()) == 5:
        fields = "0 " + fields  # KFP's cron starts with seconds
    return Trigger(cron=fields)
