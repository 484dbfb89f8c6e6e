"""``LocalPodOperator``: the pod a ``KubernetesPodOperator`` would create, run on this machine.

A DAG file compiled with ``operator="local"`` imports this class in place of ``KubernetesPodOperator``;
nothing else in the file changes. Each task builds its pod exactly as on a cluster (the provider's own
``build_pod_request_obj``, after Airflow rendered the templates), checks it against the Kubernetes client's
models, then runs the container's command (``python -c LAUNCHER SPEC --arg ...``) as a subprocess with the
container's environment, and returns what the pod would have left in ``/airflow/xcom/return.json``. So
Airflow's own scheduling (``dag.test()``, a scheduler with a local executor) runs the generated DAG with its
real mapping, branching, trigger rules, retries and XComs, and only the pod is simulated.

Environment variables read from secrets cannot be resolved here; a step that needs one gets it from this
process's environment under the same name, if set. Volumes are not mounted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from kubernetes.client import ApiClient  # type: ignore[import-untyped]
from kubernetes.client import models as k8s

__all__ = ["LocalPodOperator", "validate_pod"]

EXIT_NEVER_RETRY = 2


class _Response:
    """What ``ApiClient.deserialize`` reads: a body of JSON text."""

    def __init__(self, data: str) -> None:
        self.data = data


def validate_pod(pod: k8s.V1Pod) -> dict[str, Any]:
    """``pod`` as the API would receive it, after reading it back through the client's models (which
    check required fields and allowed values as they are set).

    Raises:
        ValueError: A field the models refuse.
    """
    client = ApiClient()
    body: dict[str, Any] = client.sanitize_for_serialization(pod)
    again = client.deserialize(_Response(json.dumps(body)), "V1Pod")
    if client.sanitize_for_serialization(again) != body:
        raise ValueError("the pod does not survive a round trip through the Kubernetes models")
    containers = body.get("spec", {}).get("containers") or []
    if not containers or not all(c.get("name") and c.get("image") for c in containers):
        raise ValueError("every container of the pod needs a name and an image")
    return body


class LocalPodOperator(KubernetesPodOperator):
    """Builds the task's pod as ``KubernetesPodOperator`` does, then runs its command here."""

    def execute(self, context: Any) -> Any:
        pod = self.build_pod_request_obj(context, dry_run=True)  # no cluster to ask
        validate_pod(pod)
        container = next(c for c in pod.spec.containers if c.name == self.base_container_name)
        argv = [*(container.command or []), *(container.args or [])]
        if argv and argv[0] == "python":
            argv[0] = sys.executable  # the image's Python is this one
        env = dict(os.environ)
        for var in container.env or []:
            if var.value is not None:
                env[var.name] = var.value
        with tempfile.TemporaryDirectory(prefix="mlopsdsl-pod-") as root:
            env["MLOPSDSL_WORK"] = os.path.join(root, "work")
            env["MLOPSDSL_XCOM"] = os.path.join(root, "xcom")
            timeout = self.execution_timeout.total_seconds() if self.execution_timeout else None
            try:
                done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired as exc:
                raise AirflowException(f"pod {pod.metadata.name}: timed out after {timeout} s") from exc
            if done.stdout:
                self.log.info("%s", done.stdout)
            if done.stderr:
                self.log.info("%s", done.stderr)
            if done.returncode:
                self._keep_log(context, done.stderr)
            if done.returncode == EXIT_NEVER_RETRY:
                raise AirflowFailException(
                    f"pod {pod.metadata.name}: the step failed for good (not retried):\n{done.stderr}"
                )
            if done.returncode:
                raise AirflowException(
                    f"pod {pod.metadata.name} returned a failure (exit status {done.returncode}):\n"
                    f"{done.stderr}"
                )
            if not self.do_xcom_push:
                return None
            with open(os.path.join(root, "xcom", "return.json"), encoding="utf-8") as handle:
                return json.load(handle)

    def _keep_log(self, context: Any, stderr: str) -> None:
        """Append a failed attempt's standard error to ``$MLOPSDSL_LOCAL_LOGS/TASK[INDEX].log``, for tests
        that check what a step said."""
        folder = os.environ.get("MLOPSDSL_LOCAL_LOGS")
        if not folder:
            return
        index = getattr(context.get("ti"), "map_index", -1)
        name = self.task_id if index is None or index < 0 else f"{self.task_id}[{index}]"
        with open(os.path.join(folder, f"{name}.log"), "a", encoding="utf-8") as handle:
            handle.write(stderr)
