"""Showing a run as it goes: a live table on a terminal, plain log lines anywhere else.

The scheduler reports events (a step started, finished, was cached, failed, will retry, printed a line);
a progress object turns them into output on standard error, so standard output keeps only what the user
asked for (``mlopsdsl run`` prints the pipeline's outputs there). Rich is imported only for the live
display.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Protocol, TextIO

_SYMBOLS = {
    "pending": "·",
    "running": "▶",
    "waiting": "…",
    "retrying": "↻",
    "succeeded": "✓",
    "cached": "≡",
    "failed": "✗",
    "skipped": "-",
    "not-run": "○",
}


class Progress(Protocol):
    def start(self, run_id: str, pipeline: str, tasks: list[str], resumed: bool) -> None: ...

    def update(self, task: str, status: str, detail: str = "") -> None: ...

    def line(self, task: str, text: str) -> None: ...

    def finish(self, status: str, seconds: float) -> None: ...


class Silent:
    """No output at all (``progress=False``)."""

    def start(self, run_id: str, pipeline: str, tasks: list[str], resumed: bool) -> None:
        pass

    def update(self, task: str, status: str, detail: str = "") -> None:
        pass

    def line(self, task: str, text: str) -> None:
        pass

    def finish(self, status: str, seconds: float) -> None:
        pass


class Plain:
    """One line per event, for logs, CI and notebooks."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()
        self._run = ""

    def _write(self, text: str) -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def start(self, run_id: str, pipeline: str, tasks: list[str], resumed: bool) -> None:
        self._run = run_id
        verb = "resuming" if resumed else "running"
        self._write(f"[{run_id}] {verb} pipeline {pipeline!r}: {len(tasks)} steps")

    def update(self, task: str, status: str, detail: str = "") -> None:
        if status == "pending":
            return
        self._write(f"[{self._run}] {task}: {status}{' ' + detail if detail else ''}")

    def line(self, task: str, text: str) -> None:
        self._write(f"[{task}] {text}")

    def finish(self, status: str, seconds: float) -> None:
        self._write(f"[{self._run}] {status} in {seconds:.2f}s")


class Live:
    """A rich live table of every step: status, duration, details."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live as RichLive

        self.console = Console(stderr=True)
        self._live = RichLive(console=self.console, refresh_per_second=8, transient=False)
        self._rows: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self._title = ""

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(title=self._title, title_justify="left", expand=False, box=None, padding=(0, 1))
        for column in ("", "step", "status", "time", ""):
            table.add_column(column)
        now = time.monotonic()
        for task, (status, started, ended, detail) in self._rows.items():
            seconds = (ended or now) - started if started else None
            shown = f"{seconds:.1f}s" if seconds is not None else ""
            style = {"failed": "red", "succeeded": "green", "cached": "cyan", "running": "yellow"}.get(status)
            table.add_row(_SYMBOLS.get(status, "?"), task, status, shown, detail, style=style)
        return table

    def start(self, run_id: str, pipeline: str, tasks: list[str], resumed: bool) -> None:
        self._title = f"{'resuming' if resumed else 'running'} {pipeline} ({run_id})"
        self._rows = {task: ["pending", None, None, ""] for task in tasks}
        self._live.start()
        self._live.update(self._table())

    def update(self, task: str, status: str, detail: str = "") -> None:
        with self._lock:
            row = self._rows.setdefault(task, ["pending", None, None, ""])
            if status == "running" and row[1] is None:
                row[1] = time.monotonic()
            if status in ("succeeded", "cached", "failed", "skipped", "not-run"):
                row[2] = time.monotonic()
            row[0], row[3] = status, detail
            self._live.update(self._table())

    def line(self, task: str, text: str) -> None:
        self.console.print(f"[{task}] {text}", markup=False, highlight=False)

    def finish(self, status: str, seconds: float) -> None:
        with self._lock:
            self._title += f": {status} in {seconds:.2f}s"
            self._live.update(self._table())
        self._live.stop()


def choose(progress: bool | Progress | None) -> Progress:
    """``None``: live on a terminal, plain elsewhere; ``False``: silent; ``True``: plain or live."""
    if progress is False:
        return Silent()
    if progress is None or progress is True:
        return Live() if sys.stderr.isatty() else Plain()
    return progress
