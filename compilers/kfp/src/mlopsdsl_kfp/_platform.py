"""Kubernetes settings of a step, as the ``PlatformSpec`` document that kfp-kubernetes writes.

Secrets become ``secretAsEnv``, node selectors, tolerations, volumes (PVC, ConfigMap, Secret, emptyDir),
pod labels and annotations map one to one, and the step's timeout becomes ``activeDeadlineSeconds``. The
config is built with kfp-kubernetes' generated ``KubernetesExecutorConfig`` model, so it is valid by
construction, then stored as the ``Struct`` the PipelineSpec's ``PlatformDeploymentConfig`` holds.

Pod settings (:class:`mlopsdsl.Pod`, combined with the pipeline's by :func:`mlopsdsl.lowering.pod_of`)
become ``imagePullSecret``, ``imagePullPolicy``, ``nodeAffinity``/``podAffinity`` terms,
``enabledSharedMemory`` and ``securityContext``; every executor runs as user 1000, never root, unless
the pod says otherwise (or the compile option ``non_root=False``).

Not expressible in KFP and therefore left out (documented in ``docs/kfp.md``): ``read_only`` on a PVC
(Secret and ConfigMap volumes are always read-only). A per-step service account, a priority class and a
pod patch have no field in the PlatformSpec: the KFP backend declares them as capability gaps, so using
them is a located error before this module runs; a pipeline's service account is the run's
(``kfp.Client``), not the executor's.
"""

from __future__ import annotations

import math
from typing import Any

from mlopsdsl import ir

__all__ = ["RUN_ONLY", "STEP_POD_SETTINGS", "default_config", "executor_config"]

STEP_POD_SETTINGS = frozenset(
    {
        "image_pull_secrets",
        "image_pull_policy",
        "affinity",
        "run_as_user",
        "run_as_group",
        "run_as_root",
        "shm_size",
    }
)
"""The :class:`mlopsdsl.Pod` settings a KFP executor can carry (kfp-kubernetes' PlatformSpec)."""
RUN_ONLY = frozenset({"service_account"})
"""Pod settings KFP takes for a whole run only: the service account goes with the run to ``kfp.Client``."""


def _new() -> Any:
    from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s  # type: ignore[import-untyped,unused-ignore]

    return k8s.KubernetesExecutorConfig()


def _as_dict(config: Any) -> dict[str, Any] | None:
    from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]

    if config.ByteSize() == 0:
        return None
    result: dict[str, Any] = json_format.MessageToDict(config)
    return result


def default_config(non_root: bool) -> dict[str, Any] | None:
    """The config of an executor that runs only mlopsdsl's own code (the runtime, packs): the default user."""
    config = _new()
    _identity(config, None, non_root)
    return _as_dict(config)


def executor_config(options: ir.StepOptions, pod: ir.Pod | None, non_root: bool) -> dict[str, Any] | None:
    """The ``KubernetesExecutorConfig`` of a step as a JSON dict, or ``None`` when it sets nothing.

    Args:
        options: The step's options.
        pod: The step's pod settings, the pipeline's included (``lowering.pod_of``).
        non_root: Run as user 1000 when the pod chooses no user (the compile option ``non_root``).
    """
    config = _new()
    by_secret: dict[str, list[ir.Secret]] = {}
    for secret in options.secrets:
        by_secret.setdefault(secret.name, []).append(secret)
    for name in sorted(by_secret):
        entry = config.secret_as_env.add(secret_name=name, optional=False)
        entry.secret_name_parameter.runtime_value.constant.string_value = name
        for secret in by_secret[name]:
            entry.key_to_env.add(secret_key=secret.key, env_var=secret.env)
    kube = options.kubernetes
    for key in sorted(kube.node_selector):
        config.node_selector.labels[key] = kube.node_selector[key]
    for tol in kube.tolerations:
        item = config.tolerations.add(operator=tol.operator)
        if tol.key is not None:
            item.key = tol.key
        if tol.value is not None:
            item.value = tol.value
        if tol.effect is not None:
            item.effect = tol.effect
        if tol.seconds is not None:
            item.toleration_seconds = tol.seconds
    for index, volume in enumerate(kube.volumes):
        _add_volume(config, volume, index)
    for key, value in sorted(kube.labels.items()):
        config.pod_metadata.labels[key] = value
    for key, value in sorted(kube.annotations.items()):
        config.pod_metadata.annotations[key] = value
    if options.timeout is not None:
        config.active_deadline_seconds = max(1, math.ceil(options.timeout))
    if pod is not None:
        _pod(config, pod)
    _identity(config, pod, non_root)
    return _as_dict(config)


def _identity(config: Any, pod: ir.Pod | None, non_root: bool) -> None:
    from mlopsdsl.lowering import DEFAULT_USER, identity_of

    chosen = identity_of(pod)
    if chosen is None and not non_root:
        return
    context = config.security_context
    if chosen is None:
        context.run_as_user, context.run_as_group, context.run_as_non_root = DEFAULT_USER, DEFAULT_USER, True
    else:
        context.run_as_user, context.run_as_group = chosen.user, chosen.group
        context.run_as_non_root = chosen.non_root


def _pod(config: Any, pod: ir.Pod) -> None:
    for secret in pod.image_pull_secrets:
        entry = config.image_pull_secret.add(secret_name=secret)
        entry.secret_name_parameter.runtime_value.constant.string_value = secret
    if pod.image_pull_policy is not None:
        config.image_pull_policy = pod.image_pull_policy
    required = None  # every node rule in one term: Kubernetes ORs separate required terms, rules must AND
    for rule in pod.affinity:
        if isinstance(rule, ir.NodeAffinity):
            if rule.weight is None:
                required = required if required is not None else config.node_affinity.add()
                term = required
            else:
                term = config.node_affinity.add(weight=rule.weight)
            term.match_expressions.add(key=rule.key, operator=rule.operator, values=list(rule.values))
        else:
            term = config.pod_affinity.add(topology_key=rule.topology_key)
            if rule.anti:
                term.anti = True
            for key, value in rule.labels.items():
                term.match_pod_labels[key] = value
            term.namespaces.extend(rule.namespaces)
            if rule.weight is not None:
                term.weight = rule.weight
    if pod.shm_size is not None:
        config.enabled_shared_memory.volume_name = "shm"
        config.enabled_shared_memory.size = pod.shm_size


def _add_volume(config: Any, volume: ir.Volume, index: int) -> None:
    if volume.pvc is not None:
        mount = config.pvc_mount.add(constant=volume.pvc, mount_path=volume.mount_path)
        mount.pvc_name_parameter.runtime_value.constant.string_value = volume.pvc
    elif volume.config_map is not None:
        cm = config.config_map_as_volume.add(
            config_map_name=volume.config_map, mount_path=volume.mount_path, optional=False
        )
        cm.config_map_name_parameter.runtime_value.constant.string_value = volume.config_map
    elif volume.secret is not None:
        sv = config.secret_as_volume.add(
            secret_name=volume.secret, mount_path=volume.mount_path, optional=False
        )
        sv.secret_name_parameter.runtime_value.constant.string_value = volume.secret
    else:
        config.empty_dir_mounts.add(volume_name=f"scratch-{index}", mount_path=volume.mount_path)
