"""What a step tells about itself as it runs: metrics (``ml.log_metric``) and where (``ml.current``).

The runtime opens a :class:`Recorder` around the step function's call (:func:`start`), held in a
``ContextVar`` so that steps running in threads of one process (the in-process executor) never see each
other's. ``ml.log_metric`` appends to it; after the call the runtime puts the points in the result record
(``"metrics"``), writes them where the call spec's ``metrics`` section says (a file a backend reads, a KFP
``system.Metrics`` artifact's metadata) and hands them to the publishers that are configured (a Prometheus
Pushgateway, see :mod:`._push`). Every backend runs this same code, so a step logs the same way everywhere.

Outside a run (a step function called as plain Python, in a unit test) the functions do nothing but leave
a debug note on the ``mlopsdsl`` logger, so steps stay testable without a runner. Standard library only,
and cheap: nothing here is imported that a step which logs nothing would not need.
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["Current", "Recorder", "current", "log_metric", "log_metrics"]

_RECORDER: ContextVar[Recorder | None] = ContextVar("mlopsdsl_recorder", default=None)
MAX_NAME = 200


class Current:
    """Where the running step is: the run, pipeline, task and attempt, as the backend knows them.

    Attributes:
        run_id: The run's id (the local run id, the KFP run's job name, the Argo workflow's name), or
            ``None`` outside a run or where the engine does not tell it.
        pipeline: The pipeline's name.
        task: The task's name in the pipeline (``train``, ``sub/train``), or ``None``.
        step: The step's name.
        attempt: The attempt number, from 1, or ``None`` where the engine does not tell it.
        map_index: The element's index when the task is one element of a map, else ``None``.
        backend: ``"local"``, ``"kfp"``, ``"argo"``, or ``None`` outside a run.
    """

    __slots__ = ("attempt", "backend", "map_index", "pipeline", "run_id", "step", "task")

    def __init__(
        self,
        run_id: str | None = None,
        pipeline: str | None = None,
        task: str | None = None,
        step: str | None = None,
        attempt: int | None = None,
        map_index: int | None = None,
        backend: str | None = None,
    ) -> None:
        self.run_id = run_id
        self.pipeline = pipeline
        self.task = task
        self.step = step
        self.attempt = attempt
        self.map_index = map_index
        self.backend = backend

    @property
    def in_run(self) -> bool:
        """True inside a step that a runner or an engine started; False for a plain Python call."""
        return self.backend is not None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items() if v is not None)
        return f"Current({fields})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Current) and self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]


class Recorder:
    """The metrics one attempt of a step logged, in the order it logged them."""

    __slots__ = ("current", "points")

    def __init__(self, current: Current) -> None:
        self.current = current
        self.points: list[dict[str, Any]] = []


def point(name: object, value: object, step: object = None) -> dict[str, Any]:
    """One metric point, checked: the same checks inside and outside a run, so a step that logs a bad
    value fails in its unit test too, not only on a cluster."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise ValueError(f"a metric's name is a non-empty str of at most {MAX_NAME} characters, got {name!r}")
    if isinstance(value, bool | str | bytes):
        raise TypeError(f"metric {name!r}: the value must be a number, got {type(value).__name__}")
    try:  # int, float, and what says it is a real number (numpy scalars)
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"metric {name!r}: the value must be a number, got {type(value).__name__}") from None
    if not math.isfinite(number):
        raise ValueError(f"metric {name!r}: the value must be finite, got {number!r}")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise ValueError(f"metric {name!r}: step must be a whole number >= 0 or None, got {step!r}")
    return {"name": name, "value": number, "step": step, "time": round(time.time(), 3)}


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record a metric of the running step: a number, optionally at a training step.

    Recorded with the task's outputs (``mlopsdsl runs show``, ``RunResult.step(task).metrics``), shown by
    the backend (KFP's metrics tab, Argo output parameters) and sent to the Pushgateway and MLflow when
    they are configured. Outside a run it only leaves a debug note.

    Args:
        name: The metric's name, e.g. ``"accuracy"``.
        value: A finite number (``int``, ``float``, or anything ``float()`` accepts, such as numpy scalars).
        step: The training step or epoch it belongs to, for a series; ``None`` for a single value.

    Raises:
        ValueError: An empty name, a value that is not finite, a negative step.
        TypeError: A value that is not a number.
    """
    checked = point(name, value, step)
    recorder = _RECORDER.get()
    if recorder is None:
        _outside("log_metric", f"{name}={checked['value']!r}")
        return
    recorder.points.append(checked)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Record several metrics at once (see :func:`log_metric`), all checked before any is recorded.

    Args:
        metrics: Names and values.
        step: The training step they belong to, or ``None``.
    """
    if not hasattr(metrics, "items"):
        raise TypeError(f"log_metrics takes a mapping of names to numbers, got {type(metrics).__name__}")
    checked = [point(name, value, step) for name, value in metrics.items()]
    recorder = _RECORDER.get()
    if recorder is None:
        _outside("log_metrics", ", ".join(f"{p['name']}={p['value']!r}" for p in checked))
        return
    recorder.points.extend(checked)


def current() -> Current:
    """Where the running step is (run id, pipeline, task, attempt, map index, backend).

    Outside a run every field is ``None`` (``current().in_run`` is False), so a step can call it in a
    plain unit test.
    """
    recorder = _RECORDER.get()
    return recorder.current if recorder is not None else Current()


def start(current: Current) -> tuple[Recorder, object]:
    """Open a recorder for one call of a step function (the runtime does this); give the token to
    :func:`stop` when the call ends."""
    recorder = Recorder(current)
    return recorder, _RECORDER.set(recorder)


def stop(token: object) -> None:
    _RECORDER.reset(token)  # type: ignore[arg-type]


def last_values(points: list[dict[str, Any]]) -> dict[str, float]:
    """Each metric's last logged value, by name (what a single number per metric shows: KFP's metrics
    tab, a Prometheus gauge)."""
    return {p["name"]: p["value"] for p in points}


def _outside(function: str, what: str) -> None:
    import logging

    logging.getLogger("mlopsdsl").debug("ml.%s(%s) outside a run: nothing recorded", function, what)
