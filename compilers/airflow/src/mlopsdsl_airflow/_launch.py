"""What runs in a step's pod: the launcher program and the call spec.

Every step container runs the same small launcher with the image's own Python (``python -c LAUNCHER SPEC
--arg NAME=TEXT ...``), never a shell. The launcher

1. installs the step's ``packages`` and, with ``runtime="bundle"`` (the default), puts the runtime bundle
   on ``sys.path``, as every backend's launcher does (:func:`mlopsdsl.lowering.launch_prologue`); the
   bundle arrives in the ``MLOPSDSL_RUNTIME`` environment variable from one constant of the DAG file.
   With ``runtime="image"`` there is no bundle: the image's mlopsdsl is imported;
2. runs the step runtime (``mlopsdsl.runtime.main``) with the call spec, its result record going to the
   launcher's folder, and the ``--arg`` items Airflow rendered from XCom and the DAG's params;
3. on success, copies the result record to ``/airflow/xcom/return.json``, where the operator's XCom
   sidecar reads it: a task's XCom is the runtime's result record (each JSON output's value, each stored
   output's record with its ``uri`` in the store), and consumers pick what they read from it.

``MLOPSDSL_WORK`` and ``MLOPSDSL_XCOM`` move the two folders; only the local operator sets them, so that
tasks running side by side on one machine keep apart. The exit status is the runtime's: ``2`` means the
step failed for good, which the operator turns into a failure Airflow does not retry.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mlopsdsl import ir
from mlopsdsl.lowering import launch_prologue, stored_kind, tolerant_section

__all__ = ["CONTEXT_TRY", "LAUNCHER", "call_spec", "jinja_safe", "launcher"]

CONTEXT_TRY = "mlopsdsl-try"
"""The ``--arg`` that carries the task instance's ``try_number`` (1 on the first try, rendered by Airflow
into the templated container arguments) to a tolerant map's element that retries: its runtime must know
when an attempt is the last (``lowering.tolerant_section``)."""

_HEAD = """\
import json, os, shutil, sys
work = os.environ.get("MLOPSDSL_WORK", "/tmp/mlopsdsl")
xcom = os.environ.get("MLOPSDSL_XCOM", "/airflow/xcom")
os.makedirs(work, exist_ok=True)
"""
_BODY = """\
spec = json.loads(sys.argv[1])
spec["result"] = os.path.join(work, "result.json")
spec["scratch"] = os.path.join(work, "scratch")
from mlopsdsl.runtime import main
status = main(["--spec-json", json.dumps(spec), *sys.argv[2:]])
if status == 0:
    os.makedirs(xcom, exist_ok=True)
    shutil.copyfile(spec["result"], os.path.join(xcom, "return.json"))
sys.exit(status)
"""


def launcher(runtime: str = "bundle") -> str:
    """The program every step container runs (``python -c LAUNCHER SPEC --arg ...``), for the ``runtime``
    compile option: ``image`` imports the image's mlopsdsl, ``bundle`` the bundle's."""
    return _HEAD + launch_prologue('json.loads(sys.argv[1]).get("step")', runtime) + _BODY


LAUNCHER = launcher("bundle")
"""The launcher of ``runtime="bundle"``, the default."""

_JINJA_OPENERS = re.compile(r"\{(?=[{%#])")


def jinja_safe(value: Any) -> str:
    """``value`` as JSON text that Airflow's template rendering leaves as it is.

    Airflow renders every string of an operator's templated fields with Jinja, and a user's value may hold
    ``{{``, ``{%`` or ``{#``. JSON's own structure never puts one of those after a ``{`` (an object opens
    with a key or closes), so every such ``{`` is inside a string and is written as the escape
    ``\\u007b``, which decodes to the same value.
    """
    return _JINJA_OPENERS.sub(r"\\u007b", json.dumps(value, ensure_ascii=True))


def call_spec(
    step: ir.StepSpec,
    code: dict[str, Any],
    inputs: list[tuple[ir.Param, str, tuple[str | int, ...], Any]],
    store: str | None,
    cache: dict[str, Any] | None,
) -> dict[str, Any]:
    """The runtime's call spec for one task of ``step``.

    Args:
        step: The step.
        code: The ``code`` part (by value or by import).
        inputs: Each input passed: the parameter, how it arrives (``value``: a literal, inline; ``json``: JSON
            text in ``--arg``; ``status``: the run's status; ``stored``: a list of one producer's output
            record in ``--arg``; ``collected``: a JSON list of records in ``--arg``), the field path to
            select, and the literal for ``value``.
        store: Where stored outputs are uploaded (the ``store`` option).
        cache: The ``cache`` section, when the pod applies the runtime's cache (``cache_root``).
    """
    items: list[dict[str, Any]] = []
    for param, how, path, literal in inputs:
        item: dict[str, Any] = {"name": param.name}
        if how == "value":
            item.update(kind="json", value=literal)
        elif how in ("json", "status"):
            item.update(kind="json", arg=param.name)
        elif how in ("collected", "stored"):
            # A stored value's record is known only at run time, in the producer's XCom: it arrives as a
            # list of records (one, for a single value, of which ``select`` takes element 0).
            inner = param.type.items if param.type.kind == "optional" and param.type.items else param.type
            elem = (inner.items or inner) if how == "collected" else inner
            item.update(
                kind="collected", item_kind=stored_kind(elem) or "object", records={"arg": param.name}
            )
            if elem.kind == "artifact":
                item["type"] = elem.name or "Artifact"
            if how == "stored":
                path = (0, *path)
        if path:
            item["select"] = list(path)
        items.append(item)
    outputs: list[dict[str, Any]] = []
    for out in step.outputs:
        kind = stored_kind(out.type)
        entry: dict[str, Any] = {"name": out.name, "kind": kind or "json"}
        if kind is not None:
            entry["store"] = store
            if kind == "object" and out.type.name:
                entry["type"] = out.type.name  # picks the serialiser (npy, parquet...) before the class does
        outputs.append(entry)
    spec: dict[str, Any] = {
        "version": 1,
        "step": step.name,
        "code": code,
        "inputs": items,
        "outputs": outputs,
        "returns": step.returns.kind,
    }
    retry = step.options.retry.runtime_spec() if step.options.retry is not None else None
    if retry is not None:
        spec["retry"] = retry  # stop_on: the runtime exits 2, which the operator fails without a retry
    tolerant = tolerant_section(step)
    if tolerant is not None:
        spec["tolerant"] = tolerant
        if tolerant["attempts"] > 1:
            spec["context"] = {"backend": "airflow", "attempt": {"arg": CONTEXT_TRY}}
    if cache is not None:
        spec["cache"] = cache
    return spec
