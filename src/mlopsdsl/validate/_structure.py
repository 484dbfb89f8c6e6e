"""Checks of a document's structure: its root, names (Kubernetes-valid, unique after sanitising), schedules,
references between tasks, steps and sub-pipelines, and inputs unknown or missing."""

from __future__ import annotations

import re

from mlopsdsl import ir
from mlopsdsl._keywords import closest
from mlopsdsl.naming import k8s_name, name_problem
from mlopsdsl.options import RESERVED_ENV
from mlopsdsl.validate._context import Context, every_task

# --------------------------------------------------------------------------- names


def check_root(ctx: Context) -> None:
    names = [p.name for p in ctx.doc.pipelines]
    if not names or names[0] != ctx.doc.root:
        first = ctx.doc.pipelines[0].location if ctx.doc.pipelines else None
        known = ", ".join(names) or "none"
        ctx.report(
            "bad-root", f"the document's root {ctx.doc.root!r} is not one of its pipelines ({known})", first
        )


_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_CRON_FIELD = re.compile(
    r"^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$"
)


def check_schedule(ctx: Context) -> None:
    for pipeline in ctx.doc.pipelines:
        if pipeline.schedule is None:
            continue
        schedule = pipeline.schedule.cron
        fields = schedule.split()
        ok = schedule.strip() in _CRON_MACROS or schedule.startswith("@every ")
        ok = ok or (len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields))
        if not ok:
            ctx.report(
                "bad-schedule",
                f"schedule {schedule!r} of pipeline {pipeline.name!r} is not a cron schedule "
                "(five fields such as '0 3 * * *', or @daily, @hourly...)",
                pipeline.location,
            )


def check_not_empty(ctx: Context) -> None:
    for pipeline in ctx.doc.pipelines:
        if not pipeline.tasks:
            ctx.report("empty-pipeline", f"pipeline {pipeline.name!r} calls no step", pipeline.location)


def check_names(ctx: Context) -> None:
    doc = ctx.doc
    _names(ctx, "step", [(s.name, s.location) for s in doc.steps])
    _names(ctx, "pipeline", [(p.name, p.location) for p in doc.pipelines])
    for pipeline in doc.pipelines:
        tasks = [(t.id, t.location) for t in pipeline.tasks]
        params = [(p.name, p.location or pipeline.location) for p in pipeline.params]
        _repeats(ctx, "tasks", pipeline.name, tasks, "task ids must be unique")
        _repeats(ctx, "parameters", pipeline.name, params, "rename one")
        _names(ctx, "task", tasks, report_invalid=False)
        _names(ctx, "parameter", params)


def _repeats(
    ctx: Context, what: str, pipeline: str, names: list[tuple[str, ir.SourceLocation | None]], advice: str
) -> None:
    seen: set[str] = set()
    for name, where in names:
        if name in seen:
            ctx.report(
                "duplicate-name", f"two {what} are named {name!r} in pipeline {pipeline!r}; {advice}", where
            )
        seen.add(name)


def _names(
    ctx: Context, what: str, names: list[tuple[str, ir.SourceLocation | None]], report_invalid: bool = True
) -> None:
    seen: dict[str, str] = {}
    for name, where in names:
        problem = name_problem(name, what)
        if problem:
            if report_invalid:
                ctx.report("bad-name", problem, where)
            continue
        label = k8s_name(name)
        if label in seen and seen[label] != name:
            ctx.report(
                "name-collision",
                f"{what} names {seen[label]!r} and {name!r} both become {label!r} on Kubernetes; rename one",
                where,
            )
        seen.setdefault(label, name)


def check_unique_definitions(ctx: Context) -> None:
    for kind, items in (("step", ctx.doc.steps), ("pipeline", ctx.doc.pipelines)):
        seen: set[str] = set()
        for item in items:
            if item.name in seen:
                ctx.report(
                    "name-collision",
                    f"two different {kind}s are named {item.name!r}; rename one",
                    item.location,
                )
            seen.add(item.name)


def check_env(ctx: Context) -> None:
    for step in ctx.doc.steps:
        given = [(name, "env") for name in step.options.env]
        given += [(secret.env, f"secret {secret.name}.{secret.key}") for secret in step.options.secrets]
        for name, what in given:
            if name in RESERVED_ENV:
                ctx.report(
                    "reserved-env",
                    f"step {step.name!r}: {what} sets {name}, which mlopsdsl sets itself in every step's "
                    "process; name it differently",
                    step.location,
                )


# --------------------------------------------------------------------------- references and inputs


def check_references(ctx: Context) -> None:
    steps = {s.name for s in ctx.doc.steps}
    pipelines = {p.name for p in ctx.doc.pipelines}
    for pipeline in ctx.doc.pipelines:
        ids = {t.id for t in pipeline.tasks}
        for task in every_task(pipeline):
            if (task.step is None) == (task.pipeline is None):
                ctx.report(
                    "bad-task", f"task {task.id!r} must call exactly one step or pipeline", task.location
                )
            elif task.step is not None and task.step not in steps:
                ctx.report(
                    "unknown-step", f"task {task.id!r} calls unknown step {task.step!r}", task.location
                )
            elif task.pipeline is not None and task.pipeline not in pipelines:
                ctx.report(
                    "unknown-pipeline",
                    f"task {task.id!r} calls unknown pipeline {task.pipeline!r}",
                    task.location,
                )
            for other in task.after:
                if other not in ids:
                    ctx.report(
                        "unknown-task", f"task {task.id!r} runs after unknown task {other!r}", task.location
                    )


def check_inputs(ctx: Context) -> None:
    for pipeline in ctx.doc.pipelines:
        for task in every_task(pipeline):
            params = ctx.callee_inputs(task)
            if params is None:
                continue
            known = {p.name for p in params}
            what = f"step {task.step!r}" if task.step else f"pipeline {task.pipeline!r}"
            for name in task.inputs:
                if name not in known:
                    guess = closest(name, known)
                    hint = f"its inputs are {', '.join(sorted(known))}" if known else "it takes no inputs"
                    hint = f"did you mean {guess!r}?" if guess else hint
                    ctx.report("unknown-argument", f"{what} has no input {name!r}; {hint}", task.location)
            skip = ctx.unbound.get((pipeline.name, task.id), set())
            missing = [
                p.name for p in params if not p.optional and p.name not in task.inputs and p.name not in skip
            ]
            if missing:
                names = ", ".join(repr(m) for m in missing)
                plural = "s" if len(missing) > 1 else ""
                ctx.report(
                    "missing-input", f"{what} is missing required input{plural} {names}", task.location
                )
