"""The fixed parts of every generated DAG file: its imports, the step operator and the helpers.

These are Python source, written into each file as they are, so that a DAG file needs nothing from
mlopsdsl on the Airflow side: only Airflow, its ``cncf.kubernetes`` provider and the standard library. The
helpers only move the step runtime's result records between tasks (every selection, conversion and check
happens in the runtime, in the pod); the one decision made on the worker is a block's condition, rendered
as data and compared as :func:`mlopsdsl.runtime.builtins.compare` compares (a comparison Python refuses
does not hold), as the local runner and the other engines do.
"""

from __future__ import annotations

__all__ = ["HELPERS", "IMPORTS", "OPERATORS"]

IMPORTS = """\
from __future__ import annotations

import json
import operator
import re
from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.python import BranchPythonOperator, PythonOperator
from airflow.sdk import DAG, Param, RetryDecision, RetryPolicy
from airflow.timetables.trigger import CronTriggerTimetable
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from kubernetes.client import ApiClient
from kubernetes.client import models as k8s
"""

OPERATORS = {
    "kubernetes": "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator\n",
    "local": (
        "# operator='local': each pod is built as on a cluster, then its command runs on this machine.\n"
        "from mlopsdsl_airflow.local import LocalPodOperator as KubernetesPodOperator\n"
    ),
}

HELPERS = '''\
class _Json:
    """What ``ApiClient.deserialize`` reads: a body of JSON text."""

    def __init__(self, data):
        self.data = json.dumps(data)


def kube(kind, data):
    """The Kubernetes client's model ``kind`` read from the API's JSON (camelCase, as kubectl takes it)."""
    return ApiClient().deserialize(_Json(data), kind)


MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "volumes": "name",
    "imagePullSecrets": "name", "env": "name", "volumeMounts": "mountPath", "ports": "containerPort",
    "hostAliases": "ip", "topologySpreadConstraints": "topologyKey", "resourceClaims": "name",
}
"""The lists of a PodSpec that a strategic merge patch merges item by item, and the key that matches items
(the ``patchMergeKey`` of Kubernetes' API); any other list in a patch replaces the pod's."""


def merge_patch(base, patch):
    """``patch`` merged into ``base`` (both API JSON) as Kubernetes merges a strategic merge patch, which is
    how Argo applies a template's ``podSpecPatch``: mappings merge key by key, ``null`` removes a key, and
    the lists of ``MERGE_KEYS`` merge by their key."""
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_patch(merged[key], value)
        elif key in MERGE_KEYS and isinstance(value, list) and isinstance(merged.get(key), list):
            by = MERGE_KEYS[key]
            items = list(merged[key])
            for item in value:
                at = next((n for n, old in enumerate(items) if old.get(by) == item.get(by)), None)
                if at is None:
                    items.append(item)
                else:
                    items[at] = merge_patch(items[at], item)
            merged[key] = items
        else:
            merged[key] = value
    return merged


class StepOperator(KubernetesPodOperator):
    """A pod running one step through the mlopsdsl step runtime.

    Exit status 2 means the step failed for good (an error retrying cannot fix): that attempt fails
    without a retry, whatever ``retries`` says. ``pod_patch`` (the step's ``ml.Pod(patch=...)``, a partial
    PodSpec in API JSON, whose container ``main`` is the step's) is merged into the pod the provider builds,
    last, as Argo merges a ``podSpecPatch``.
    """

    def __init__(self, *, pod_patch=None, **kwargs):
        super().__init__(**kwargs)
        self.pod_patch = pod_patch

    def build_pod_request_obj(self, context=None, *, dry_run=False):
        pod = super().build_pod_request_obj(context, dry_run=dry_run)
        if not self.pod_patch:
            return pod
        patch = dict(self.pod_patch)
        if "containers" in patch:
            patch["containers"] = [
                {**c, "name": self.base_container_name} if c.get("name") == "main" else c
                for c in patch["containers"]
            ]
        client = ApiClient()
        pod.spec = kube("V1PodSpec", merge_patch(client.sanitize_for_serialization(pod.spec), patch))
        return pod

    def cleanup(self, pod, remote_pod, *args, **kwargs):
        try:
            super().cleanup(pod, remote_pod, *args, **kwargs)
        except AirflowException as exc:
            status_of = remote_pod.status if remote_pod else None
            statuses = (status_of.container_statuses if status_of else None) or []
            for status in statuses:
                ended = status.state.terminated if status.state else None
                if status.name == self.base_container_name and ended and ended.exit_code == 2:
                    raise AirflowFailException(f"the step failed for good (not retried): {exc}") from exc
            raise


class Backoff(RetryPolicy):
    """The wait of ``ml.Retry``, exactly: ``backoff * factor ** (n - 1)`` seconds before retry n.

    Airflow's own ``retry_exponential_backoff`` (also set, for the UI) adds up to 100 % jitter; this policy
    makes every engine wait the same.
    """

    def __init__(self, backoff, factor):
        self.backoff = backoff
        self.factor = factor

    def evaluate(self, exception, try_number, max_tries, context=None):
        return RetryDecision.retry(timedelta(seconds=self.backoff * self.factor ** (try_number - 1)))

    def serialize(self):
        return {"backoff": self.backoff, "factor": self.factor}


def _record(ti, task_id):
    return ti.xcom_pull(task_ids=task_id)


def _runs(ti, task_id):
    """A mapped task's records, in element order (none when it ran over an empty list)."""
    return [run for run in ti.xcom_pull(task_ids=[task_id]) if run is not None]


def _safe(value):
    """JSON text that template rendering leaves alone: a "{" that would open a Jinja tag is escaped."""
    return re.sub(r"\\{(?=[{%#])", r"\\\\u007b", json.dumps(value))


def value(ti, task_id, output):
    """A step's JSON output, from its XCom (the step runtime's result record)."""
    return _safe(_record(ti, task_id)["outputs"][output]["value"])


def values(ti, task_id, output):
    """A mapped step's JSON outputs, as one list."""
    return _safe([run["outputs"][output]["value"] for run in _runs(ti, task_id)])


def record(ti, task_id, output):
    """A stored output's record (where it is stored, its digest), for the consumer's runtime to read: a
    list of one, as the runtime reads records."""
    return _safe([_record(ti, task_id)["outputs"][output]])


def records(ti, task_id, output):
    """A mapped step's stored outputs, as a list of records."""
    return _safe([run["outputs"][output] for run in _runs(ti, task_id)])


def chosen(ti, choices, stored):
    """``ml.one_of``: the output of whichever of the choices ran."""
    for task_id, output in choices:
        run = _record(ti, task_id)
        if run is not None:
            found = run["outputs"][output]
            return _safe([found] if stored else found["value"])
    raise AirflowException(f"none of {[c[0] for c in choices]} ran")


def param(params, name):
    """A DAG param as JSON text."""
    return _safe(params[name])


def status(ti):
    """How the run went, for the exit handler: "Succeeded" when no step failed, else "Failed"."""
    return json.dumps(ti.xcom_pull(task_ids="mlopsdsl-status") or "Failed")


def each(name, text, stored=False):
    """The container arguments of every element of a list (JSON text): what a mapped step expands over.
    A stored element is its record, as a list of one."""
    return [["--arg", f"{name}={_safe([item] if stored else item)}"] for item in json.loads(text)]


def succeeded():
    return "Succeeded"


_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}


def _operand(side, ti, params):
    if "value" in side:
        return side["value"]
    if "param" in side:
        found = params[side["param"]]
    else:
        found = _record(ti, side["task"])["outputs"][side["output"]]["value"]
    for key in side["path"]:
        found = found[key]
    return found


def holds(condition, ti, params):
    """Whether a block's condition holds; a comparison Python refuses (None < 1) does not."""
    kind = condition[0]
    if kind == "compare":
        try:
            left, right = _operand(condition[2], ti, params), _operand(condition[3], ti, params)
            return bool(_COMPARE[condition[1]](left, right))
        except TypeError:
            return False
    if kind == "not":
        return not holds(condition[1], ti, params)
    parts = [holds(part, ti, params) for part in condition[1]]
    return all(parts) if kind == "all" else any(parts)


def branch(block, ti, params):
    """Follow every task of ``block`` when its condition holds, else skip them all."""
    condition, tasks = BLOCKS[block]
    return tasks if holds(condition, ti, params) else []


MACROS = {"value": value, "values": values, "record": record, "records": records, "chosen": chosen,
          "param": param, "status": status}
'''
