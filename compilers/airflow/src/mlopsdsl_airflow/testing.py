"""Running a DAG file compiled with ``operator="local"`` on Airflow itself, for tests.

Nothing here imitates Airflow: :func:`run_airflow` loads the file with Airflow's ``DagBag`` and runs it with
``dag.test()``, Airflow's own loop of scheduling decisions (mapping, branching, trigger rules, retries and
their waits, XComs), in this process, against the metadata database of :func:`use_home`. Only the pods are
simulated, by :class:`mlopsdsl_airflow.local.LocalPodOperator`. Afterwards the run is read back from that
database into an :class:`mlopsdsl.testing.EmulatedRun`, the shape every backend's test runner returns.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlopsdsl.runtime._tolerance import OUTCOME, failure_of
from mlopsdsl.testing import EmulatedRun, EmulatorError

__all__ = ["process_home", "run_airflow", "use_home"]

LOGS_ENV = "MLOPSDSL_LOCAL_LOGS"
"""Where :class:`~mlopsdsl_airflow.local.LocalPodOperator` writes the standard error of failed pods."""


def process_home() -> Path:
    """This process's Airflow home for tests: one per process (``pytest -n 2`` runs two), under
    ``$MLOPSDSL_AIRFLOW_HOME`` or the system's temporary folder."""
    import tempfile

    return (
        Path(os.environ.get("MLOPSDSL_AIRFLOW_HOME") or tempfile.gettempdir())
        / f"mlopsdsl-airflow-{os.getpid()}"
    )


def use_home(home: Path) -> Path:
    """Make ``home`` this process's Airflow home (a SQLite metadata database and a DAGs folder), creating
    the database the first time; the DAGs folder.

    Airflow reads its configuration when it is first imported, so call this before anything imports it.
    """
    home.mkdir(parents=True, exist_ok=True)
    dags = home / "dags"
    dags.mkdir(exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        }
    )
    if not (home / "airflow.db").exists():
        airflow = str(Path(sys.executable).parent / "airflow")
        done = subprocess.run(
            [airflow, "db", "migrate"], capture_output=True, text=True, env=dict(os.environ)
        )
        if done.returncode:
            raise EmulatorError(f"airflow db migrate failed:\n{done.stderr[-3000:]}")
    return dags


def run_airflow(text: str, params: dict[str, Any], *, workdir: Path) -> EmulatedRun:
    """Run the DAG file ``text`` once with ``params`` through ``dag.test()``; how it ended.

    The file replaces whatever is in the DAGs folder of :func:`use_home` (``dag.test()`` syncs that whole
    folder into the database first).

    Raises:
        EmulatorError: The file does not import in a ``DagBag``, or was not compiled with
            ``operator="local"``.
    """
    from airflow.dag_processing.dagbag import DagBag

    if "mlopsdsl_airflow.local import" not in text:
        raise EmulatorError("run_airflow runs DAG files compiled with operator='local'")
    dags = Path(os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or use_home(workdir / "airflow"))
    for old in dags.glob("*.py"):
        old.unlink()
    (dags / "mlopsdsl_run.py").write_text(text, encoding="utf-8")
    bag = DagBag(str(dags))
    if bag.import_errors or len(bag.dags) != 1:
        raise EmulatorError(f"the DAG file does not import: {bag.import_errors}")
    dag = next(iter(bag.dags.values()))
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    before = os.environ.get(LOGS_ENV)
    os.environ[LOGS_ENV] = str(logs)
    try:
        run = dag.test(run_conf=params)
    finally:
        if before is None:
            os.environ.pop(LOGS_ENV, None)
        else:
            os.environ[LOGS_ENV] = before
    return _read(run, dag.dag_id, _outputs(text), logs)


def _outputs(text: str) -> dict[str, Any]:
    """The file's ``OUTPUTS`` constant: plain data, read without running the file again."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "OUTPUTS" for t in node.targets):
            found: dict[str, Any] = ast.literal_eval(node.value)
            return found
    return {}


def _read(run: Any, dag_id: str, outputs: dict[str, Any], logs: Path) -> EmulatedRun:
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    names = {"success": "Succeeded", "failed": "Failed", "skipped": "Skipped", "upstream_failed": "Omitted"}
    result = EmulatedRun(
        status="Succeeded" if str(run.state) in ("success", "DagRunState.SUCCESS") else "Failed"
    )
    with create_session() as session:

        def records(task_id: str, map_index: int | None = None) -> list[Any]:
            """A task's XComs (the runtime's records), in element order; one element's with ``map_index``."""
            query = session.query(XComModel).filter_by(
                dag_id=dag_id, run_id=run.run_id, task_id=task_id, key="return_value"
            )
            if map_index is not None:
                query = query.filter_by(map_index=map_index)
            rows = query.order_by(XComModel.map_index).all()
            return [XComModel.deserialize_value(row) for row in rows]

        tis = sorted(run.get_task_instances(session=session), key=lambda t: (t.end_date is None, t.end_date))
        for ti in tis:
            path = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            state = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
            result.tasks[path] = names.get(state, state)
            if state == "failed":
                result.failed.append(path)
            if ti.try_number:
                result.attempts[path] = ti.try_number
            history = (
                session.query(TaskInstanceHistory)
                .filter_by(dag_id=dag_id, run_id=run.run_id, task_id=ti.task_id, map_index=ti.map_index)
                .order_by(TaskInstanceHistory.try_number)
                .all()
            )
            waits = [float(h.retry_delay_override) for h in history if h.retry_delay_override is not None]
            if waits:
                result.waits[path] = waits
            for row in records(ti.task_id, ti.map_index) if state == "success" else []:
                if isinstance(row, dict) and (row.get("cache") or {}).get("hit"):
                    result.cached[path] = "runtime"
                outcome = (row.get("outputs") or {}).get(OUTCOME) if isinstance(row, dict) else None
                if outcome is not None and failure_of(outcome.get("value")) is not None:
                    result.tolerated[path] = str(failure_of(outcome.get("value")))
            log = logs / f"{path}.log"
            if log.exists():
                result.logs[path] = log.read_text(encoding="utf-8")

        if result.status == "Succeeded":
            result.outputs = {name: _value(how, records, run.conf or {}) for name, how in outputs.items()}
    return result


def _value(how: dict[str, Any], records: Any, conf: dict[str, Any]) -> Any:
    from mlopsdsl.runtime._values import select

    if "one_of" in how:
        for choice in how["one_of"]:
            if "task" not in choice or records(choice["task"]):
                return _value(choice, records, conf)
        raise EmulatorError("no branch of a one_of output ran")
    if "value" in how:
        return how["value"]
    if "param" in how:
        return select(conf[how["param"]], tuple(how["path"]))
    runs = [run["outputs"][how["output"]] for run in records(how["task"]) if run is not None]
    found = [_load(out) for out in runs] if how["mapped"] else _load(runs[0])
    return select(found, tuple(how["path"]))


def _load(out: dict[str, Any]) -> Any:
    if out.get("kind") == "json":
        return out["value"]
    return json.loads(json.dumps(out))  # a stored value: its record (where it is, its digest)
