"""Pod settings of a step (:class:`mlopsdsl.Pod`) as fields of its Argo container template.

The settings arrive already combined with the pipeline's (:func:`mlopsdsl.lowering.pod_of`), and their
Kubernetes shape (affinity, security context, ``/dev/shm``, the patch check) comes from
:mod:`mlopsdsl.lowering._kube`, which Airflow's DAG files use too. What is Argo's own: most settings map to
a template field one to one (``serviceAccountName``, ``affinity``, ``priorityClassName``,
``securityContext``, ``podSpecPatch``, which Argo's controller merges into the pod as a strategic merge
patch); the pull policy is the container's; and Argo has no per-template pull secrets, so the workflow
lists every step's (:func:`pull_secrets`): a secret only lets a pod pull, so one more on a pod changes
nothing it runs.
"""

from __future__ import annotations

import json
from typing import Any

from mlopsdsl import ir
from mlopsdsl.lowering import pod_of
from mlopsdsl.lowering._kube import affinity_spec, check_patches, pod_security_context

from ._options import BACKEND

__all__ = ["check_document", "pod_fields", "pull_secrets"]


def pod_fields(pod: ir.Pod | None) -> dict[str, Any]:
    """The template fields of ``pod`` (besides volumes and the container's)."""
    if pod is None:
        return {}
    fields: dict[str, Any] = {}
    if pod.service_account is not None:
        fields["serviceAccountName"] = pod.service_account
    affinity = affinity_spec(pod.affinity)
    if affinity:
        fields["affinity"] = affinity
    if pod.priority_class is not None:
        fields["priorityClassName"] = pod.priority_class
    context = pod_security_context(pod)
    if context is not None:
        fields["securityContext"] = context
    if pod.patch is not None:  # checked by check_document before any template is made
        fields["podSpecPatch"] = json.dumps(pod.patch, sort_keys=True, separators=(",", ":"))
    return fields


def check_document(document: ir.Document) -> None:
    """Check every pod patch of ``document`` against the Kubernetes models, at the line that wrote it."""
    check_patches(document, BACKEND)


def pull_secrets(document: ir.Document) -> list[dict[str, str]]:
    """Every image pull secret of every step (the pipeline's first): the workflow's ``imagePullSecrets``."""
    names: dict[str, None] = {}
    if document.pipeline.pod is not None:
        names.update(dict.fromkeys(document.pipeline.pod.image_pull_secrets))
    for step in document.steps:
        pod = pod_of(document, step)
        if pod is not None:
            names.update(dict.fromkeys(pod.image_pull_secrets))
    return [{"name": name} for name in names]
