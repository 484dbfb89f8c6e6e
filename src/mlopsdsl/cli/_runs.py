"""``mlopsdsl runs list`` and ``mlopsdsl runs show RUN_ID``: what ran, and the lineage of its artifacts.

Both read only the run records under ``.mlopsdsl/`` (or ``--home``, ``$MLOPSDSL_HOME``). ``show`` prints,
per step, its status and each input and output: JSON values as they are, stored objects and artifacts with
their URI, sha256 digest, size and the step output they came from, so that a file can be traced back to
the step and the inputs that made it. ``--json`` prints the records themselves, for tools. ``show``
without a run id lists the most recent runs, newest first; from Python, ``ml.runs.get(run_id)`` gives a
run's values (``mlopsdsl/runs.py``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

from mlopsdsl.cli._decl import Argument, Option, command, group
from mlopsdsl.cli._errors import EXIT_USER, Exit, report_errors

RUNS = group("runs", help="List local runs, and show a run's steps with their input and output artifacts.")

Home = Annotated[
    str | None,
    Option("--home", help="The runs folder's parent (default: $MLOPSDSL_HOME or ./.mlopsdsl)."),
]
AsJson = Annotated[bool, Option("--json", help="Print the records as JSON.")]


@command("list", group=RUNS)
@report_errors
def list_command(home: Home = None, as_json: AsJson = False) -> None:
    """List runs, oldest first: id, pipeline, status, start time, duration."""
    from mlopsdsl import runs
    from mlopsdsl.local._records import home as home_folder

    records = runs.list(home)[::-1]  # read as `show` reads them: a record whose seal fails is marked
    if as_json:
        print(json.dumps(records, indent=1, ensure_ascii=False))
        return
    if not records:
        print(f"no runs in {home_folder(home) / 'runs'}", file=sys.stderr)
        return
    width = max(len(str(r.get("run_id"))) for r in records)
    for r in records:
        seconds = r.get("seconds")
        took = f"{seconds:.2f}s" if isinstance(seconds, int | float) else ""
        print(
            f"{str(r.get('run_id')).ljust(width)}  {r.get('status')!s:<11} {took:>9}  "
            f"{r.get('started', '')}  {r.get('pipeline', '')}"
        )
    for r in records:
        if r.get("status") == runs.DAMAGED:
            print(f"warning: {r.get('damaged')}", file=sys.stderr)


@command("show", group=RUNS)
@report_errors
def show_command(
    run_id: Annotated[
        str | None, Argument(help="A run id; left out, the most recent runs, newest first.")
    ] = None,
    home: Home = None,
    as_json: AsJson = False,
    backend: Annotated[
        str,
        Option("--backend", "-b", help="'local' (the run records here), or a cluster backend (kfp, argo)."),
    ] = "local",
    host: Annotated[
        str | None, Option("--host", "--server", help="For a cluster backend: its API endpoint.")
    ] = None,
    token: Annotated[
        str | None,
        Option("--token", envvar="MLOPSDSL_TOKEN", show_envvar=True, help="Bearer token (never printed)."),
    ] = None,
    namespace: Annotated[str | None, Option("--namespace", "-n", help="Kubernetes namespace.")] = None,
    insecure: Annotated[
        bool, Option("--insecure", help="Do not verify the server's TLS certificate.")
    ] = False,
    as_html: Annotated[
        bool,
        Option(
            "--html", help="Print the run report: a standalone HTML page (graph by status, metrics, outputs)."
        ),
    ] = False,
) -> None:
    """Show a run: each step's status, its input and output artifacts with URIs and digests, its metrics."""
    from mlopsdsl.errors import RunError
    from mlopsdsl.local._config import trust
    from mlopsdsl.local._records import RunFolder
    from mlopsdsl.local._records import home as home_folder

    if run_id is None:
        _recent(home, as_json)
        return
    if backend != "local":
        if as_html:
            print("error: --html reports local runs; a cluster's run is shown by its own UI", file=sys.stderr)
            raise Exit(EXIT_USER)
        _show_remote(run_id, backend, host, token, namespace, insecure, as_json)
        return
    root = home_folder(home)
    try:
        folder = RunFolder.existing(root, run_id, trust(root).key)
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise Exit(EXIT_USER) from None
    run = folder.read_run()
    steps = folder.read_steps()
    order = _step_order(folder.path, steps)
    if as_json:
        print(json.dumps({"run": run, "steps": [steps[t] for t in order]}, indent=1, ensure_ascii=False))
        return
    if as_html:
        from mlopsdsl.local._report import render

        sys.stdout.write(render(run, steps))
        return
    seconds = run.get("seconds")
    took = f" in {seconds:.2f}s" if isinstance(seconds, int | float) else ""
    print(f"run {run.get('run_id')}: {run.get('status')}{took}")
    print(f"  pipeline       {run.get('pipeline')}")
    print(f"  started        {run.get('started')}")
    if run.get("params"):
        print(f"  parameters     {json.dumps(run['params'], ensure_ascii=False, sort_keys=True)}")
    print(f"  artifact root  {run.get('artifact_root', '(default)')}")
    for task in order:
        record = steps[task]
        status = str(record.get("status"))
        extra = ""
        if record.get("cache_hit"):
            extra = f" ({record.get('reused_from', 'cache')})"
        elif isinstance(record.get("seconds"), int | float):
            extra = f" in {record['seconds']:.2f}s"
        print(f"\nstep {task}: {status}{extra}")
        if record.get("location"):
            print(f"  at {record['location']}")
        for name, item in sorted((record.get("inputs") or {}).items()):
            print(_line("in ", name, item))
        for name, item in sorted((record.get("outputs") or {}).items()):
            print(_line("out", name, item))
        for line in _metric_lines(record.get("metrics") or []):
            print(line)
        if status == "failed" and isinstance(record.get("error"), dict):
            error = record["error"]
            print(f"  error {error.get('type')}: {str(error.get('message', '')).strip().splitlines()[:1]}")


def _inspector(backend: str, host: str | None) -> Any:
    from mlopsdsl import backends
    from mlopsdsl.errors import PluginError

    if not host:
        print(f"error: --backend {backend} needs --host (the API endpoint)", file=sys.stderr)
        raise Exit(EXIT_USER)
    chosen = backends.load(backend)
    if not isinstance(chosen, backends.Inspects):
        raise PluginError(f"backend {chosen.name!r} cannot read runs back from a cluster")
    return chosen


def _show_remote(
    run_id: str,
    backend: str,
    host: str | None,
    token: str | None,
    namespace: str | None,
    insecure: bool,
    as_json: bool,
) -> None:
    """A cluster run: its status and task tree, with outputs and metrics where the engine keeps them."""
    import dataclasses

    from mlopsdsl.backends import RemoteOptions

    chosen = _inspector(backend, host)
    assert host is not None
    view = chosen.inspect(
        run_id, RemoteOptions(host=host, token=token, namespace=namespace, verify_tls=not insecure)
    )
    if as_json:
        print(json.dumps(dataclasses.asdict(view), indent=1, ensure_ascii=False, default=str))
        return
    print(f"run {view.run_id}: {view.status}" + (f"  {view.url}" if view.url else ""))
    if view.started:
        print(f"  started        {view.started}")
    if view.finished:
        print(f"  finished       {view.finished}")
    for task in view.tasks:
        print(f"\nstep {task.name}: {task.status}")
        for name, value in sorted(task.outputs.items()):
            print(f"  out {name} = {json.dumps(value, ensure_ascii=False, default=str)}")
        for name, value in task.metrics.items():
            print(f"  metric {name} = {value!r}")


@command("logs")
@report_errors
def logs_command(
    run_id: Annotated[str, Argument(help="A run id (local) or the run's name on the cluster.")],
    task: Annotated[str, Argument(help="The task (as 'runs show' lists it).")],
    backend: Annotated[
        str, Option("--backend", "-b", help="'local', or a cluster backend (argo).")
    ] = "local",
    home: Home = None,
    host: Annotated[
        str | None, Option("--host", "--server", help="For a cluster backend: its API endpoint.")
    ] = None,
    token: Annotated[
        str | None,
        Option("--token", envvar="MLOPSDSL_TOKEN", show_envvar=True, help="Bearer token (never printed)."),
    ] = None,
    namespace: Annotated[str | None, Option("--namespace", "-n", help="Kubernetes namespace.")] = None,
    insecure: Annotated[
        bool, Option("--insecure", help="Do not verify the server's TLS certificate.")
    ] = False,
) -> None:
    """Print a task's logs: every attempt's log of a local run, or its pods' logs through the engine's API."""
    if backend == "local":
        from mlopsdsl.errors import RunError
        from mlopsdsl.local._config import trust
        from mlopsdsl.local._records import RunFolder, safe_name
        from mlopsdsl.local._records import home as home_folder

        try:
            root = home_folder(home)
            folder = RunFolder.existing(root, run_id, trust(root).key)
        except RunError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise Exit(EXIT_USER) from None
        attempts = folder.path / "attempts" / safe_name(task)
        logs = sorted(attempts.glob("*/log.txt"), key=lambda p: [int(x) for x in p.parent.name.split(".")])
        if not logs:
            known = sorted(folder.read_steps())
            print(
                f"error: run {run_id} kept no log for task {task!r} (tasks: {', '.join(known)})",
                file=sys.stderr,
            )
            raise Exit(EXIT_USER)
        for path in logs:
            print(f"--- {task} attempt {path.parent.name}")
            sys.stdout.write(path.read_text(encoding="utf-8", errors="replace"))
        return
    from mlopsdsl.backends import RemoteOptions

    chosen = _inspector(backend, host)
    assert host is not None
    options = RemoteOptions(host=host, token=token, namespace=namespace, verify_tls=not insecure)
    for line in chosen.logs(run_id, task, options):
        print(line)


RECENT = 20
"""How many runs ``runs show`` without a run id lists."""


def _recent(home: str | None, as_json: bool) -> None:
    """The most recent runs, newest first, for ``runs show`` without a run id."""
    from mlopsdsl import runs

    records = runs.list(home)[:RECENT]
    if as_json:
        print(json.dumps(records, indent=1, ensure_ascii=False))
        return
    if not records:
        print("no runs yet", file=sys.stderr)
        return
    width = max(len(str(r.get("run_id"))) for r in records)
    for r in records:
        run_id = str(r.get("run_id")).ljust(width)
        print(f"{run_id}  {r.get('status')!s:<11} {r.get('started', '')}  {r.get('pipeline', '')}")
    print("show one: mlopsdsl runs show RUN_ID", file=sys.stderr)


def _step_order(run_dir: Path, steps: dict[str, dict[str, Any]]) -> list[str]:
    """The steps in the order the run started them (then by name)."""
    return sorted(steps, key=lambda t: (str(steps[t].get("started") or "~"), t))


def _line(direction: str, name: str, item: dict[str, Any]) -> str:
    kind = item.get("kind")
    source = f"  <- {item['from']}" if item.get("from") else ""
    if kind == "json":
        return f"  {direction} {name} = {json.dumps(item.get('value'), ensure_ascii=False)}{source}"
    size = item.get("size")
    shown = f"  {_size(size)}" if isinstance(size, int) else ""
    what = str(kind)
    if item.get("type"):
        what += f" {item['type']}"
    if item.get("format"):
        what += f" ({item['format']})"
    select = f"  select {'.'.join(map(str, item['select']))}" if item.get("select") else ""
    return (
        f"  {direction} {name}: {what}  sha256:{item.get('sha256')}{shown}\n"
        f"      {item.get('uri', '')}{source}{select}"
    )


def _metric_lines(points: list[dict[str, Any]]) -> list[str]:
    """One line per metric the step logged: its last value, and how many points its series has."""
    series: dict[str, list[dict[str, Any]]] = {}
    for point in points:
        if isinstance(point, dict) and isinstance(point.get("name"), str):
            series.setdefault(point["name"], []).append(point)
    lines = []
    for name, values in series.items():
        last = values[-1]
        note = f"  ({len(values)} points" + (
            f", last at step {last['step']})" if last.get("step") is not None else ")"
        )
        lines.append(f"  metric {name} = {last.get('value')!r}" + (note if len(values) > 1 else ""))
    return lines


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
