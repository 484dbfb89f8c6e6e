"""The local runner's numbers for Prometheus: one Pushgateway group per task, and one per run.

The runner knows what a pod's runtime cannot (every attempt, timeouts and crashes, cache hits that
started no process), so it pushes for its steps itself, with the runtime's own families
(:mod:`mlopsdsl.runtime.push`: the same names on every backend), and the runtime in its steps does not push.
A Pushgateway that cannot be reached never fails the run: the first failure is said on the progress
output, and pushing stops.
"""

from __future__ import annotations

from typing import Any

from mlopsdsl.local._progress import Progress
from mlopsdsl.runtime import push


class Publisher:
    """Pushes a run's task and run metrics to a Pushgateway."""

    def __init__(self, url: str, pipeline: str, run_id: str, progress: Progress) -> None:
        self.url = url
        self.pipeline = pipeline
        self.run_id = run_id
        self.progress = progress
        self.broken = False

    def task(self, task: str, record: dict[str, Any]) -> None:
        """Push a finished task's numbers (succeeded, cached or failed), from its step record."""
        attempts = record.get("attempts") or []
        failures: dict[str, int] = {}
        for attempt in attempts:
            error = attempt.get("error")
            if error:
                reason = _reason(error)
                failures[reason] = failures.get(reason, 0) + 1
        stored_in = [i for i in (record.get("inputs") or {}).values() if isinstance(i.get("size"), int)]
        stored_out = [o for o in (record.get("outputs") or {}).values() if isinstance(o.get("size"), int)]
        ran = not record.get("cache_hit")
        families = push.step_families(
            seconds=float(record.get("seconds") or 0.0),
            attempts=len(attempts),
            failures=failures,
            cache_hit=bool(record.get("cache_hit")),
            bytes_read=sum(i["size"] for i in stored_in) if ran else 0,
            bytes_written=sum(o["size"] for o in stored_out) if ran else 0,
            status=str(record.get("status")),
            metrics={p["name"]: p["value"] for p in record.get("metrics") or []},
        )
        self._push(push.group_path(self.pipeline, self.run_id, task), families, task)

    def run(self, status: str, seconds: float) -> None:
        self._push(push.group_path(self.pipeline, self.run_id), push.run_families(status, seconds), None)

    def _push(self, path: str, families: list[push.Family], task: str | None) -> None:
        if self.broken:
            return
        try:
            push.push(self.url, path, families)
        except OSError as exc:
            self.broken = True
            self.progress.line(
                task or self.pipeline, f"metrics not pushed to {self.url} ({exc}); pushing stops"
            )


def _reason(error: dict[str, Any]) -> str:
    """Why an attempt failed, in a few words: the runtime's phase, or what the runner saw."""
    kind = str(error.get("type"))
    if kind in ("Timeout", "Crash"):
        return kind.lower()
    return str(error.get("phase") or "runner")
