"""The Airflow backend's tests run where Airflow is installed: the ``airflow`` nox session, whose pins
clash with kfp's. The core session collects ``compilers/`` too, without Airflow: there this folder is left
out, and ``MLOPSDSL_REQUIRE_AIRFLOW`` (set by the airflow session) makes a missing Airflow an error
instead, so these tests can never silently not run where they are meant to.
"""

from __future__ import annotations

import importlib.util
import os

collect_ignore_glob: list[str] = []

if importlib.util.find_spec("airflow") is None or importlib.util.find_spec("mlopsdsl_airflow") is None:
    if os.environ.get("MLOPSDSL_REQUIRE_AIRFLOW"):
        raise RuntimeError(
            "MLOPSDSL_REQUIRE_AIRFLOW is set, but Airflow or mlopsdsl-airflow is not installed"
        )
    collect_ignore_glob = ["*.py"]
else:
    from mlopsdsl_airflow.testing import process_home, use_home

    # Airflow reads its configuration once, when first imported: give this process its own home first.
    DAGS = use_home(process_home())
