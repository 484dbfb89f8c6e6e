"""The compiled document: a ``Workflow``, ``WorkflowTemplate`` or ``CronWorkflow`` around the lowered spec,
as deterministic YAML.

Key order is fixed by construction (``apiVersion``, ``kind``, ``metadata``, ``spec``, then each object's
fields in the order Argo's own examples use), YAML is written by :mod:`mlopsdsl_argo._yaml`, lines are never
folded, and the multi-line launcher program is a literal block. The same IR gives byte-identical text.
"""

from __future__ import annotations

from typing import Any

from mlopsdsl import ir
from mlopsdsl.errors import CompileError
from mlopsdsl_argo._lower import lower
from mlopsdsl_argo._naming import CRON_NAME_LENGTH, GENERATE_NAME_LENGTH, object_name
from mlopsdsl_argo._options import BACKEND, CompileOptions
from mlopsdsl_argo._values import armor
from mlopsdsl_argo._yaml import dump

__all__ = ["API_VERSION", "dump", "manifest"]

API_VERSION = "argoproj.io/v1alpha1"
LABEL_PIPELINE = "mlopsdsl.dev/pipeline"
ANNOTATION_DIGEST = "mlopsdsl.dev/ir-digest"
ANNOTATION_OUTPUTS = "mlopsdsl.dev/outputs"
"""How to read each pipeline output from a finished workflow (armored JSON; see
``Lowering.outputs_annotation``)."""


def _metadata(document: ir.Document, options: CompileOptions, outputs: dict[str, Any]) -> dict[str, Any]:
    root = document.pipeline
    meta: dict[str, Any] = {}
    if options.kind == "workflow":
        meta["generateName"] = object_name(root.name, GENERATE_NAME_LENGTH) + "-"
    elif options.kind == "cron":
        meta["name"] = object_name(root.name, CRON_NAME_LENGTH)
    else:
        meta["name"] = object_name(root.name)
    meta["labels"] = {LABEL_PIPELINE: object_name(root.name)}
    annotations = {ANNOTATION_DIGEST: document.digest}
    if outputs:
        annotations[ANNOTATION_OUTPUTS] = armor(outputs)
    if root.description and "{{" not in root.description:
        annotations["workflows.argoproj.io/description"] = root.description
    meta["annotations"] = annotations
    return meta


def manifest(document: ir.Document, options: CompileOptions) -> dict[str, Any]:
    """The Argo object for ``document`` as plain data (after :func:`mlopsdsl.lowering.desugar`)."""
    from mlopsdsl.lowering import desugar

    document = desugar(document)
    spec, outputs = lower(document, options)
    kind = {"workflow": "Workflow", "template": "WorkflowTemplate", "cron": "CronWorkflow"}[options.kind]
    out: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": _metadata(document, options, outputs),
    }
    where = document.pipeline.location  # the options and the schedule belong to the root pipeline
    if options.kind != "cron":
        out["spec"] = spec
        if options.schedule is not None:
            raise CompileError("schedule applies to kind='cron' only", BACKEND, location=where)
        return out
    from mlopsdsl.lowering import schedule_of

    schedule = schedule_of(document, BACKEND, options.schedule)
    if schedule is None:
        raise CompileError(
            "kind='cron' needs a schedule: pass schedule='0 3 * * *' (--schedule) or declare it with "
            "@ml.pipeline(schedule=...)",
            BACKEND,
            location=where,
        )
    cron = schedule.cron
    if len(cron.split()) not in (5, 6) and not cron.startswith("@"):
        raise CompileError(
            f"schedule {cron!r} is not a cron expression such as '0 3 * * *'", BACKEND, location=where
        )
    out["spec"] = {**cron_fields(document, schedule), "workflowSpec": spec}
    return out


_MAX_CONCURRENCY = "Argo runs a cron workflow's runs one at a time (Forbid, Replace) or without limit (Allow)"


def _argo_limit(schedule: ir.Schedule) -> str | None:
    return None if schedule.max_concurrency in (None, 1) else _MAX_CONCURRENCY


def _argo_catch_up(schedule: ir.Schedule) -> str | None:
    if not schedule.catch_up:
        return None
    return "Argo starts at most the last missed run (within starting_deadline), never every missed one"


_ARGO_REASONS = {
    "timezone": lambda s: None,
    "max_concurrency": _argo_limit,
    "replace_running": lambda s: None,
    "catch_up": _argo_catch_up,
    "enabled": lambda s: None,
    "starting_deadline": lambda s: None,
    "keep_succeeded": lambda s: None,
    "keep_failed": lambda s: None,
}
"""Every schedule setting has a CronWorkflow field; these values have none."""


def cron_fields(document: ir.Document, schedule: ir.Schedule) -> dict[str, Any]:
    """The ``CronWorkflowSpec`` fields of ``schedule``, in Argo's order, besides ``workflowSpec``."""
    from mlopsdsl.lowering import check_schedule

    check_schedule(document, schedule, BACKEND, _ARGO_REASONS)
    fields: dict[str, Any] = {"schedules": [schedule.cron]}
    if schedule.timezone is not None:
        fields["timezone"] = schedule.timezone
    if schedule.max_concurrency == 1:
        fields["concurrencyPolicy"] = "Replace" if schedule.replace_running else "Forbid"
    else:
        fields["concurrencyPolicy"] = "Allow"
    if schedule.starting_deadline is not None:
        fields["startingDeadlineSeconds"] = int(schedule.starting_deadline)
    if schedule.keep_succeeded is not None:
        fields["successfulJobsHistoryLimit"] = schedule.keep_succeeded
    if schedule.keep_failed is not None:
        fields["failedJobsHistoryLimit"] = schedule.keep_failed
    if not schedule.enabled:
        fields["suspend"] = True
    return fields
