"""Pod settings in the Kubernetes API's own shape, for every engine that writes pods itself.

:func:`~mlopsdsl.lowering.pod_of` decides what a step's pod is; this module says how that reads as
Kubernetes JSON (camelCase, as the API server and ``kubectl`` take it): the affinity, the pod's security
context, a memory-backed ``/dev/shm``, and the check that a ``patch`` is a partial ``PodSpec``. Argo writes
these dictionaries into its templates, and an Airflow DAG file hands them to ``KubernetesPodOperator``,
whose models read the same JSON; so one rule yields the same pod on both. KFP states pod settings through
its own platform spec and does not use this module.

The patch check walks the models of the official ``kubernetes`` client, imported only when a patch is
there to check; both backends that call it depend on that client.
"""

from __future__ import annotations

import re
from typing import Any

from mlopsdsl import ir
from mlopsdsl.errors import CompileError
from mlopsdsl.lowering._pod import DEFAULT_USER, identity_of

__all__ = [
    "CONTAINER_SECURITY",
    "DEFAULT_POD_SECURITY",
    "MAIN_CONTAINER",
    "SHM_PATH",
    "affinity_spec",
    "check_patch",
    "check_patches",
    "container_security",
    "pod_security_context",
    "shm_volume",
]

SHM_PATH = "/dev/shm"

MAIN_CONTAINER = "main"
"""The name a patch gives the step's own container, whatever the engine calls it."""

_POD_SECURITY_EXTRA: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}

DEFAULT_POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": DEFAULT_USER,
    "runAsGroup": DEFAULT_USER,
    **_POD_SECURITY_EXTRA,
}
"""The pod's ``securityContext`` under a backend's ``non_root`` default, when the pod chooses no user."""

CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}
"""The step container's ``securityContext`` whenever it does not run as root."""


def pod_security_context(pod: ir.Pod | None) -> dict[str, Any] | None:
    """The pod's ``securityContext`` when the pod chooses its user; ``None`` keeps the backend's default."""
    chosen = identity_of(pod)
    if chosen is None:
        return None
    return {
        "runAsNonRoot": chosen.non_root,
        "runAsUser": chosen.user,
        "runAsGroup": chosen.group,
        **_POD_SECURITY_EXTRA,
    }


def container_security(pod: ir.Pod | None, non_root: bool) -> dict[str, Any] | None:
    """The step container's ``securityContext``: :data:`CONTAINER_SECURITY` when the backend's ``non_root``
    default or the pod's own user applies and that user is not root; ``None`` for a step that asked for
    root (it keeps its capabilities) or when neither says anything."""
    chosen = identity_of(pod)
    if chosen is None:
        return CONTAINER_SECURITY if non_root else None
    return CONTAINER_SECURITY if chosen.non_root else None


def shm_volume(pod: ir.Pod | None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The volume and mount of a sized, memory-backed ``/dev/shm``, when the pod asks for one."""
    if pod is None or pod.shm_size is None:
        return None
    volume = {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": pod.shm_size}}
    return volume, {"name": "shm", "mountPath": SHM_PATH}


def affinity_spec(rules: tuple[ir.NodeAffinity | ir.PodAffinity, ...]) -> dict[str, Any]:
    """A ``V1Affinity`` of ``rules``: empty when there are none.

    Required node rules share one selector term, because Kubernetes ORs separate terms and every rule the
    user wrote must hold; preferred rules keep their weights; pod rules go under ``podAffinity`` or
    ``podAntiAffinity``.
    """
    required: list[dict[str, Any]] = []
    preferred: list[dict[str, Any]] = []
    pods: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for rule in rules:
        if isinstance(rule, ir.NodeAffinity):
            expression: dict[str, Any] = {"key": rule.key, "operator": rule.operator}
            if rule.values:
                expression["values"] = list(rule.values)
            if rule.weight is None:
                required.append(expression)
            else:
                preferred.append({"weight": rule.weight, "preference": {"matchExpressions": [expression]}})
            continue
        term: dict[str, Any] = {
            "labelSelector": {"matchLabels": dict(rule.labels)},
            "topologyKey": rule.topology_key,
        }
        if rule.namespaces:
            term["namespaces"] = list(rule.namespaces)
        kind = pods.setdefault("podAntiAffinity" if rule.anti else "podAffinity", {})
        if rule.weight is None:
            kind.setdefault("requiredDuringSchedulingIgnoredDuringExecution", []).append(term)
        else:
            entry = {"weight": rule.weight, "podAffinityTerm": term}
            kind.setdefault("preferredDuringSchedulingIgnoredDuringExecution", []).append(entry)
    out: dict[str, Any] = {}
    node: dict[str, Any] = {}
    if required:
        node["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [{"matchExpressions": required}]
        }
    if preferred:
        node["preferredDuringSchedulingIgnoredDuringExecution"] = preferred
    if node:
        out["nodeAffinity"] = node
    out.update(sorted(pods.items()))
    return out


_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\(str, (.+)\)$")
_SCALARS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "bool": (bool,),
    "float": (int, float),
    "object": (object,),
    "datetime": (str,),
    "date": (str,),
}


def check_patch(patch: dict[str, Any], what: str, where: ir.SourceLocation | None, backend: str) -> None:
    """Raise a located :class:`CompileError` unless ``patch`` is a partial ``V1PodSpec``.

    Every key must be a field of the Kubernetes model at its place (in the API's camelCase) and every
    value of the field's type; required fields may be left out, since a patch only changes what it names
    (containers are matched by ``name``, which the patch must then give).
    """
    problems: list[str] = []
    try:
        import kubernetes.client as models  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise CompileError(
            f"{what}: checking a pod patch needs the 'kubernetes' package (pip install kubernetes)",
            backend,
            location=where,
        ) from None
    _check_value(models, patch, "V1PodSpec", "patch", problems)
    for index, container in enumerate(patch.get("containers") or []):
        if isinstance(container, dict) and "name" not in container:
            problems.append(
                f"patch.containers[{index}] needs a name ({MAIN_CONTAINER!r} is the step's container)"
            )
    if problems:
        raise CompileError(
            f"{what}: pod patch is not a Kubernetes PodSpec: {'; '.join(problems[:5])}",
            backend,
            location=where,
        )


def _check_value(models: Any, value: Any, type_name: str, at: str, problems: list[str]) -> None:
    if type_name in _SCALARS:
        allowed = _SCALARS[type_name]
        if type_name == "int" and isinstance(value, bool):
            problems.append(f"{at} must be a whole number, not {value!r}")
        elif not isinstance(value, allowed):
            problems.append(f"{at} must be {type_name}, not {value!r}")
        return
    listed = _LIST.match(type_name)
    if listed:
        if not isinstance(value, list):
            problems.append(f"{at} must be a list, not {value!r}")
            return
        for index, item in enumerate(value):
            _check_value(models, item, listed.group(1), f"{at}[{index}]", problems)
        return
    mapped = _DICT.match(type_name)
    if mapped:
        if not isinstance(value, dict):
            problems.append(f"{at} must be a mapping, not {value!r}")
            return
        for key, item in value.items():
            _check_value(models, item, mapped.group(1), f"{at}.{key}", problems)
        return
    model = getattr(models, type_name, None)
    if model is None:  # a type this client does not model (quantities are 'str' here): accept
        return
    if not isinstance(value, dict):
        problems.append(f"{at} must be a mapping ({type_name.removeprefix('V1')}), not {value!r}")
        return
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    for key, item in value.items():
        attr = by_json.get(key)
        if attr is None:
            problems.append(f"{at}.{key} is not a field of {type_name.removeprefix('V1')}")
            continue
        _check_value(models, item, model.openapi_types[attr], f"{at}.{key}", problems)


def check_patches(document: ir.Document, backend: str) -> None:
    """Check every pod patch once, where it was written: the step's own, or the pipeline's."""
    root = document.pipeline
    if root.pod is not None and root.pod.patch is not None:
        check_patch(root.pod.patch, f"pipeline {root.name!r}", root.location, backend)
    for step in document.steps:
        own = step.options.kubernetes.pod
        if own is not None and own.patch is not None:
            check_patch(own.patch, f"step {step.name!r}", step.location, backend)
