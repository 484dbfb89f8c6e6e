"""Airflow compiler budgets: compile time, the generated file's size, and what Airflow pays to parse it.

In the same run and process:

- ``ml.compile`` of a freshly defined 500-step chain (:mod:`_chains`) and of a 1,000-element map (a step
  mapped over a literal list of 1,000 numbers, then summed), to the Airflow DAG file, and the file sizes;
- Airflow's ``DagBag`` parsing our generated 500-step file against two hand-written DAGs of the same
  shape: TaskFlow (500 ``@task`` calls in a chain, which run in the worker, not in pods) and 500
  ``KubernetesPodOperator`` tasks (each step in its own pod, as ours), each in a fresh subprocess
  (Airflow caches modules), best of several runs; the ratios are ours / hand-written.

Needs Airflow (the ``airflow`` nox session's environment). Run: ``python benchmarks/bench_airflow.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _chains import chain

import mlopsdsl as ml

REPEAT = 5
PARSES = 3


@ml.step
def square(x: int) -> int:
    return x * x


@ml.step
def total(values: list[int]) -> int:
    return sum(values)


def wide(n: int) -> ml.Pipeline:
    def body() -> int:
        return total(values=square.map(x=list(range(n))))

    return ml.pipeline(name=f"map-{n}")(body)


def best(fn: object, repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


TASKFLOW = textwrap.dedent(
    """
    import pendulum
    from airflow.sdk import DAG, task

    @task
    def inc(x: int) -> int:
        return x + 1

    with DAG(dag_id="chain-500-taskflow", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
             catchup=False, params={"x": 0}):
        value = inc(0)
        for _ in range(499):
            value = inc(value)
    """
)

HAND_PODS = textwrap.dedent(
    """
    import pendulum
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.sdk import DAG

    with DAG(dag_id="chain-500-pods", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
             catchup=False, params={"x": 0}):
        previous = None
        for n in range(500):
            task = KubernetesPodOperator(
                task_id=f"inc-{n}", image="python:3.11-slim", cmds=["python", "-c"],
                arguments=["import json, sys; print(int(sys.argv[1]) + 1)", "{{ params.x }}"],
                do_xcom_push=True, get_logs=True, on_finish_action="delete_pod",
            )
            if previous is not None:
                previous >> task
            previous = task
    """
)
"""The same chain written by hand as a user would to run each step in its own pod: 500
``KubernetesPodOperator`` tasks, each with an image and a command (no settings beyond that)."""

PARSE = textwrap.dedent(
    """
    import sys, time
    from airflow.dag_processing.dagbag import DagBag
    started = time.perf_counter()
    bag = DagBag(sys.argv[1])
    took = time.perf_counter() - started
    assert not bag.import_errors, bag.import_errors
    assert len(bag.dags) == 1 and len(next(iter(bag.dags.values())).tasks) >= 500
    print(took)
    """
)


def parse_time(text: str, home: Path) -> float:
    folder = Path(tempfile.mkdtemp(dir=home))
    (folder / "dag.py").write_text(text)
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    runs = [
        float(subprocess.run([sys.executable, "-c", PARSE, str(folder)], env=env, capture_output=True,
                             text=True, check=True).stdout.strip().splitlines()[-1])
        for _ in range(PARSES)
    ]  # fmt: skip
    return min(runs)


def main() -> None:
    ours = ml.compile(chain(500), backend="airflow")
    t_chain = best(lambda: ml.compile(chain(500), backend="airflow"))
    mapped = ml.compile(wide(1000), backend="airflow")
    t_map = best(lambda: ml.compile(wide(1000), backend="airflow"))
    print(f"compile, 500-step chain:     {t_chain * 1000:7.1f} ms  ({len(ours.encode()) / 1024:.0f} KB)")
    print(f"compile, 1,000-element map:  {t_map * 1000:7.1f} ms  ({len(mapped.encode()) / 1024:.0f} KB)")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        t_ours = parse_time(ours, home)
        t_hand = parse_time(TASKFLOW, home)
        t_pods = parse_time(HAND_PODS, home)
    print(
        f"DagBag parse, 500 steps: generated {t_ours * 1000:.0f} ms, "
        f"hand-written TaskFlow {t_hand * 1000:.0f} ms (ratio {t_ours / t_hand:.2f}x), "
        f"hand-written KubernetesPodOperators {t_pods * 1000:.0f} ms (ratio {t_ours / t_pods:.2f}x)"
    )


if __name__ == "__main__":
    main()
