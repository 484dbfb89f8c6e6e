"""Pod settings of a step (:class:`mlopsdsl.Pod`) as fields of its Argo container template.

The settings arrive already combined with the pipeline's (:func:`mlopsdsl.lowering.pod_of`). Most map to a
template field one to one: ``serviceAccountName``, ``affinity``, ``priorityClassName``, ``securityContext``
(the pod's user), ``podSpecPatch``; ``/dev/shm`` is a memory-backed ``emptyDir`` with a size limit, mounted
there; the pull policy is the container's. Argo has no per-template pull secrets, so the workflow lists
every step's (:func:`pull_secrets`): a secret only lets a pod pull, so one more on a pod changes nothing
it runs.

The patch is checked here, key by key and type by type, against the Kubernetes ``V1PodSpec`` models of the
official ``kubernetes`` client, so that a misspelled field is a located compile error rather than a
field the cluster silently drops.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mlopsdsl import ir
from mlopsdsl.errors import CompileError
from mlopsdsl.lowering import identity_of

from ._options import BACKEND

__all__ = [
    "SHM_PATH",
    "check_patch",
    "check_patches",
    "pod_fields",
    "pull_secrets",
    "runs_as_root",
    "security_context",
    "shm_volume",
]

SHM_PATH = "/dev/shm"

_POD_SECURITY_EXTRA: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}


def security_context(pod: ir.Pod | None) -> dict[str, Any] | None:
    """The template's pod ``securityContext`` when the pod chooses its user; ``None`` keeps the workflow's."""
    chosen = identity_of(pod)
    if chosen is None:
        return None
    return {
        "runAsNonRoot": chosen.non_root,
        "runAsUser": chosen.user,
        "runAsGroup": chosen.group,
        **_POD_SECURITY_EXTRA,
    }


def runs_as_root(pod: ir.Pod | None) -> bool:
    """True when the step asked for root: its container then keeps its capabilities."""
    chosen = identity_of(pod)
    return chosen is not None and not chosen.non_root


def pod_fields(pod: ir.Pod | None) -> dict[str, Any]:
    """The template fields of ``pod`` (besides volumes and the container's)."""
    if pod is None:
        return {}
    fields: dict[str, Any] = {}
    if pod.service_account is not None:
        fields["serviceAccountName"] = pod.service_account
    affinity = _affinity(pod.affinity)
    if affinity:
        fields["affinity"] = affinity
    if pod.priority_class is not None:
        fields["priorityClassName"] = pod.priority_class
    context = security_context(pod)
    if context is not None:
        fields["securityContext"] = context
    if pod.patch is not None:  # checked by check_patches before any template is made
        fields["podSpecPatch"] = json.dumps(pod.patch, sort_keys=True, separators=(",", ":"))
    return fields


def check_patches(document: ir.Document) -> None:
    """Check every pod patch once, where it was written: the step's own, or the pipeline's."""
    root = document.pipeline
    if root.pod is not None and root.pod.patch is not None:
        check_patch(root.pod.patch, f"pipeline {root.name!r}", root.location)
    for step in document.steps:
        own = step.options.kubernetes.pod
        if own is not None and own.patch is not None:
            check_patch(own.patch, f"step {step.name!r}", step.location)


def shm_volume(pod: ir.Pod | None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The volume and mount of a sized, memory-backed ``/dev/shm``, when the pod asks for one."""
    if pod is None or pod.shm_size is None:
        return None
    volume = {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": pod.shm_size}}
    return volume, {"name": "shm", "mountPath": SHM_PATH}


def pull_secrets(document: ir.Document) -> list[dict[str, str]]:
    """Every image pull secret of every step (the pipeline's first): the workflow's ``imagePullSecrets``."""
    from mlopsdsl.lowering import pod_of

    names: dict[str, None] = {}
    if document.pipeline.pod is not None:
        names.update(dict.fromkeys(document.pipeline.pod.image_pull_secrets))
    for step in document.steps:
        pod = pod_of(document, step)
        if pod is not None:
            names.update(dict.fromkeys(pod.image_pull_secrets))
    return [{"name": name} for name in names]


def _affinity(rules: tuple[ir.NodeAffinity | ir.PodAffinity, ...]) -> dict[str, Any]:
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
    if required:  # one term: Kubernetes ORs separate terms, and every rule must hold
        node["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [{"matchExpressions": required}]
        }
    if preferred:
        node["preferredDuringSchedulingIgnoredDuringExecution"] = preferred
    if node:
        out["nodeAffinity"] = node
    out.update(sorted(pods.items()))
    return out


# --------------------------------------------------------------------------- the patch


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


def check_patch(patch: dict[str, Any], what: str, where: ir.SourceLocation | None) -> None:
    """Raise a located :class:`CompileError` unless ``patch`` is a partial ``V1PodSpec``.

    Every key must be a field of the Kubernetes model at its place (in the API's camelCase) and every
    value of the field's type; required fields may be left out, since a patch only changes what it names
    (containers are matched by ``name``, which the patch must then give).
    """
    problems: list[str] = []
    try:
        import kubernetes.client as models  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # pragma: no cover - kubernetes is a dependency of mlopsdsl-argo
        raise CompileError(
            f"{what}: checking a pod patch needs the 'kubernetes' package (pip install kubernetes)",
            BACKEND,
            location=where,
        ) from None
    _check_value(models, patch, "V1PodSpec", "patch", problems)
    for index, container in enumerate(patch.get("containers") or []):
        if isinstance(container, dict) and "name" not in container:
            problems.append(f"patch.containers[{index}] needs a name ('main' is the step's container)")
    if problems:
        raise CompileError(
            f"{what}: pod patch is not a Kubernetes PodSpec: {'; '.join(problems[:5])}",
            BACKEND,
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
