"""The local runner: ``ml.run(pipeline, **params)`` and ``mlopsdsl run``.

It reads only the IR. A run flattens the pipeline into its step calls (:mod:`._plan`), schedules them
concurrently (:mod:`._scheduler`) on an executor (:mod:`._executors`: a subprocess per step by default,
or in process) which runs each through the step runtime, reuses cached results (:mod:`._cache`), keeps
stored outputs in a content-addressed folder (:mod:`._store`), records everything under ``.mlopsdsl/``
(:mod:`._records`), shows progress (:mod:`._progress`) and returns a :class:`RunResult`.
"""

from __future__ import annotations

from mlopsdsl.local._api import run, run_document
from mlopsdsl.local._result import RunResult, StepRun

__all__ = ["RunResult", "StepRun", "run", "run_document"]
