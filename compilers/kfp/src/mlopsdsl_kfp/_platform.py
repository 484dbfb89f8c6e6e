"""Kubernetes settings of a step, as the ``PlatformSpec`` document that kfp-kubernetes writes.

Secrets become ``secretAsEnv``, node selectors, tolerations, volumes (PVC, ConfigMap, Secret, emptyDir),
pod labels and annotations map one to one, and the step's timeout becomes ``activeDeadlineSeconds``. The
config is built with kfp-kubernetes' generated ``KubernetesExecutorConfig`` model, so it is valid by
construction, then stored as the ``Struct`` the PipelineSpec's ``PlatformDeploymentConfig`` holds.

Not expressible in KFP and therefore left out (documented in ``docs/kfp.md``): ``read_only`` on a PVC
(Secret and ConfigMap volumes are always read-only).
"""

from __future__ import annotations

import math
from typing import Any

from mlopsdsl import ir

__all__ = ["executor_config"]


def executor_config(options: ir.StepOptions) -> dict[str, Any] | None:
    """The ``KubernetesExecutorConfig`` of a step as a JSON dict, or ``None`` when it sets nothing."""
    from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]

    from ._protos import kubernetes_config

    config = kubernetes_config().KubernetesExecutorConfig()
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
    if config.ByteSize() == 0:
        return None
    result: dict[str, Any] = json_format.MessageToDict(config)
    return result


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
