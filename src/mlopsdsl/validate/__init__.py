"""Validation of the IR: a list of small checks, each reporting every problem it finds.

It runs on the IR alone, so it checks a document from any source (a build, a JSON file, a test) the same
way, and backends can rely on what it guarantees: every reference resolves, every required input is bound,
every value fits the type it flows into, names become valid Kubernetes names without colliding, and the
graph has no cycle. Problems carry the IR's locations; :func:`validate` returns them all, in a stable order.
"""

from __future__ import annotations

from mlopsdsl import ir
from mlopsdsl.errors import Location, Problem
from mlopsdsl.validate._context import Check, Context
from mlopsdsl.validate._flow import check_cycles, check_exit_handlers, check_groups, check_maps, check_scopes
from mlopsdsl.validate._structure import (
    check_env,
    check_inputs,
    check_names,
    check_not_empty,
    check_references,
    check_root,
    check_schedule,
    check_unique_definitions,
)
from mlopsdsl.validate._typing import check_outputs, check_params, check_types

__all__ = ["CHECKS", "Check", "Context", "validate"]


def validate(doc: ir.Document, unbound: dict[tuple[str, str], set[str]] | None = None) -> list[Problem]:
    """Every problem of ``doc``. ``unbound`` maps (pipeline, task) to inputs whose bad value was reported."""
    ctx = Context(doc, unbound=unbound or {})
    for check in CHECKS:
        check(ctx)
    unique = dict.fromkeys(ctx.problems)
    return sorted(unique, key=lambda p: (p.location or Location("", 0), p.code, p.message))


CHECKS: list[Check] = [
    check_root,
    check_not_empty,
    check_schedule,
    check_names,
    check_unique_definitions,
    check_env,
    check_references,
    check_inputs,
    check_types,
    check_params,
    check_outputs,
    check_maps,
    check_groups,
    check_scopes,
    check_exit_handlers,
    check_cycles,
]
