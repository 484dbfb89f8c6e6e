"""The Apache Airflow backend of mlopsdsl (``mlopsdsl-airflow``).

Installed, it registers as the backend ``airflow``: ``mlopsdsl compile flow.py --backend airflow`` writes
one Python DAG file for Airflow 3, whose tasks run the step runtime in pods (``KubernetesPodOperator``);
``mlopsdsl publish`` puts it into a DAGs folder and ``mlopsdsl submit`` triggers it through Airflow's REST
API. Compiling needs no Airflow; running (and ``operator="local"``) does. See ``docs/airflow.md``.
"""

from __future__ import annotations

from mlopsdsl_airflow._backend import AirflowBackend

__all__ = ["AirflowBackend"]
