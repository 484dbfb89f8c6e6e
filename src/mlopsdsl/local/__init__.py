"""The local runner: ``ml.run(pipeline, **params)`` and ``mlopsdsl run``.

It reads only the IR. A run flattens the pipeline into its step calls (:mod:`._plan`), schedules them
concurrently (:mod:`._scheduler`) on an executor (:mod:`._executors`: a subprocess per step by default,
or in process) which runs each through the step runtime, reuses cached results (:mod:`._cache`), keeps
stored outputs in a content-addressed folder (:mod:`._store`), records everything under ``.mlopsdsl/``
(:mod:`._records`), shows progress (:mod:`._progress`) and returns a :class:`RunResult`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlopsdsl.local._api import run, run_document
    from mlopsdsl.local._result import RunResult, StepRun

__all__ = ["RunResult", "StepRun", "run", "run_document"]

# Loaded on first use, so that importing one part (``mlopsdsl run`` starts the fork server from
# :mod:`._fork` before it imports the runner, the IR and pydantic) does not load the whole runner first.
_LAZY = {
    "run": "mlopsdsl.local._api",
    "run_document": "mlopsdsl.local._api",
    "RunResult": "mlopsdsl.local._result",
    "StepRun": "mlopsdsl.local._result",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlopsdsl.local' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
