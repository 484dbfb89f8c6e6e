"""Schedules: which schedule a publish makes, and what each engine cannot honour of it.

``@ml.pipeline(schedule=...)`` declares the schedule; ``publish --schedule CRON`` (the compile option
``schedule``) replaces its cron and keeps its other settings. Each backend names the settings it can
honour; :func:`check_schedule` raises one located :class:`~mlopsdsl.errors.CompileError` listing every other
setting that differs from its default, so that no engine silently drops one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from mlopsdsl import ir
from mlopsdsl.errors import CompileError

__all__ = ["MACROS", "check_schedule", "schedule_of"]

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
"""Cron macros as five fields, for engines that take fields only."""


def schedule_of(document: ir.Document, backend: str, cron: object = None) -> ir.Schedule | None:
    """The schedule to publish: the root pipeline's, with ``cron`` (``--schedule``) in place of its own.

    Raises:
        CompileError: ``cron`` is given but is not text.
    """
    declared = document.pipeline.schedule
    if cron is None:
        return declared
    if not isinstance(cron, str) or not cron.strip():
        raise CompileError(
            f"schedule must be a cron schedule such as '0 3 * * *', not {cron!r}",
            backend,
            location=document.pipeline.location,
        )
    if declared is None:
        return ir.Schedule(cron=cron)
    return dataclasses.replace(declared, cron=cron)


def check_schedule(
    document: ir.Document,
    schedule: ir.Schedule,
    backend: str,
    reasons: Mapping[str, Callable[[ir.Schedule], str | None]],
) -> None:
    """Raise when ``schedule`` sets something ``backend`` cannot honour.

    Args:
        document: The document; the error is at its root pipeline's definition.
        schedule: The schedule being made.
        backend: The backend's name, for the message.
        reasons: For each setting the backend has some form of: a function that gives why this value
            cannot be honoured, or ``None`` when it can. A changed setting missing here has no form at all.
    """
    problems: list[str] = []
    for name in schedule.changed():
        reason = reasons[name](schedule) if name in reasons else f"the {backend} backend has no {name}"
        if reason is not None:
            problems.append(f"{name}={getattr(schedule, name)!r}: {reason}")
    for name, why in reasons.items():
        if name not in schedule.changed():  # defaults an engine cannot meet (KFP's concurrency limit)
            reason = why(schedule)
            if reason is not None:
                problems.append(f"{name}={getattr(schedule, name)!r}: {reason}")
    if problems:
        raise CompileError(
            f"schedule of pipeline {document.pipeline.name!r}: " + "; ".join(problems),
            backend,
            location=document.pipeline.location,
        )
