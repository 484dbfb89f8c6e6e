"""Compile options of the Airflow backend, checked once.

``AirflowBackend.compile(document, **options)`` takes these as keyword arguments (``ml.compile(p,
backend="airflow", store="s3://bucket/mlopsdsl")``, ``mlopsdsl compile -O store=...``); an unknown option
or a bad value is a :class:`~mlopsdsl.errors.CompileError` at the pipeline's definition, never ignored.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any, Literal

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass
from mlopsdsl.errors import CompileError
from mlopsdsl.lowering import runtime_problem

__all__ = ["BACKEND", "OPERATORS", "CompileOptions", "default_image"]

BACKEND = "airflow"
OPERATORS = ("kubernetes", "local")
_DAG_ID = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")


def default_image() -> str:
    """``python:3.X-slim`` for the Python that compiles: by-value code only loads on the same minor."""
    return f"python:{sys.version_info[0]}.{sys.version_info[1]}-slim"


@dataclass(frozen=True)
class CompileOptions:
    """Every option of one compilation, with its default."""

    operator: Literal["kubernetes", "local"] = "kubernetes"
    """``kubernetes``: every step runs in a pod (``KubernetesPodOperator``). ``local``: the same operator
    builds the same pod, then runs its container's command as a subprocess on the Airflow worker
    (``mlopsdsl_airflow.local``, which must be importable there): for tests and laptops."""
    store: str | None = None
    """Where stored values (objects, artifacts) live between tasks: an fsspec URL (``s3://bucket/prefix``)
    or a folder every pod mounts. Airflow passes only small JSON values (XCom), so a pipeline with stored
    values needs one."""
    dag_id: str | None = None
    """The DAG's id; the pipeline's name by default."""
    schedule: str | None = None
    """A cron expression or preset (``@daily``); the pipeline's own schedule by default."""
    namespace: str | None = None
    """The Kubernetes namespace of the pods; the connection's default when left out."""
    kubernetes_conn_id: str | None = None
    """The Airflow connection to the cluster; Airflow's default (``kubernetes_default``) when left out."""
    service_account: str | None = None
    image: str | None = None
    """The image of steps that set none; ``python:<compiling major.minor>-slim`` by default."""
    code: Literal["value", "import"] = "value"
    runtime: Literal["bundle", "image"] = "bundle"
    """``bundle``: the step runtime travels in the DAG file (a stock ``python`` image works); ``image``:
    every image has mlopsdsl installed, and nothing is shipped."""
    non_root: bool = True
    functions: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    """Step functions by step name, for steps whose function cannot be found by module and name."""
    cache: bool = True
    """``False``: a run that reuses nothing (``submit --no-cache``): the pods' cache only records."""
    cache_root: str | None = None
    """Where the step runtime in each pod keeps its cache (a folder every pod mounts, or an fsspec URL).
    Airflow has no cache of its own, so without it every step runs every time."""

    @classmethod
    def parse(cls, options: Mapping[str, Any], where: ir.SourceLocation | None) -> CompileOptions:
        """Check ``options`` as given to ``compile``; ``where`` (the root pipeline's definition) locates a
        bad one."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise CompileError(
                f"unknown option {', '.join(unknown)}; options are {', '.join(sorted(known))}",
                BACKEND,
                location=where,
            )
        parsed = cls(**options)

        def bad(message: str) -> CompileError:
            return CompileError(message, BACKEND, location=where)

        if parsed.operator not in OPERATORS:
            raise bad(f"operator must be one of {', '.join(OPERATORS)}, not {parsed.operator!r}")
        if parsed.code not in ("value", "import"):
            raise bad(f"code must be 'value' or 'import', not {parsed.code!r}")
        problem = runtime_problem(parsed.runtime)
        if problem is not None:
            raise bad(problem)
        for name in ("cache", "non_root"):
            if not isinstance(getattr(parsed, name), bool):
                raise bad(f"{name} must be True or False, not {getattr(parsed, name)!r}")
        if parsed.dag_id is not None and not (
            isinstance(parsed.dag_id, str) and _DAG_ID.match(parsed.dag_id)
        ):
            raise bad(
                f"dag_id must be letters, digits, '_', '.' and '-' (at most 250), not {parsed.dag_id!r}"
            )
        for name in ("store", "schedule", "namespace", "kubernetes_conn_id", "service_account", "image"):
            value = getattr(parsed, name)
            if value is not None and (not isinstance(value, str) or not value or "{" in value):
                raise bad(f"{name} must be a non-empty text without '{{', not {value!r}")
        if parsed.cache_root is not None:
            from mlopsdsl.runtime._cache import root_problem

            problem = root_problem(parsed.cache_root)
            if problem is not None:
                raise bad(problem)
        if parsed.store is not None and not (parsed.store.startswith("/") or "://" in parsed.store):
            raise bad(f"store={parsed.store!r}: give an absolute folder every pod mounts, or a URL")
        return parsed
