"""Container templates: one per distinct step (per *variant*, see below), reused by every task of it.

A template carries what the step's options say (image, resources, retries, timeout, env and secrets, node
selector, tolerations, volumes, labels and annotations) and the launcher command of
:mod:`mlopsdsl_argo._launch`. Tasks of one step share a template as long as they pass the same *kinds* of
values (by value or stored) with the same field selections; the rare task that differs (an optional
stored input left out, a different ``path``) gets a variant with its own name.
"""

from __future__ import annotations

import math
from typing import Any

from mlopsdsl import ir
from mlopsdsl.errors import CompileError
from mlopsdsl.lowering import PACKAGES_ENV, RUNTIME_ENV, launch_command, stored_kind
from mlopsdsl.lowering._kube import container_security, shm_volume
from mlopsdsl.naming import k8s_literal
from mlopsdsl.runtime import EXIT_NEVER_RETRY
from mlopsdsl.runtime.push import ENV as PUSH_ENV
from mlopsdsl_argo._launch import (
    BOOT,
    ITEM_ENV,
    LAUNCHER_ENV,
    LAUNCHER_PARAMETER,
    META,
    METRICS,
    RUNTIME_PARAMETER,
    call_spec,
    container_args,
    input_path,
    output_path,
)
from mlopsdsl_argo._options import BACKEND, CompileOptions, S3Repository, default_image
from mlopsdsl_argo._pod import pod_fields
from mlopsdsl_argo._values import armor

__all__ = ["Signature", "artifact_uri", "container_template", "repository_key", "retry_strategy", "s3_key"]

Signature = tuple[tuple[str, str, tuple[str | int, ...]], ...]
"""Per input, in the step's order: name, how it arrives (``json``, ``gathered``, ``stored``, ``collected``,
``status``, or ``omit`` for an optional stored input left out), and the field path to select."""


def _literal(text: str, what: str, step: ir.StepSpec) -> str:
    """A user's string for a template field: ``$`` escaped for Kubernetes; ``{{`` refused (Argo has no
    escape for it, and the local runner would pass it through unchanged)."""
    if "{{" in text:
        raise CompileError(
            f"step {step.name!r}: {what} {text!r} contains '{{{{', which Argo would expand; Argo has no "
            "escape for it",
            BACKEND,
            location=step.location,
        )
    return k8s_literal(text)


def refuse_braces(value: Any, what: str, location: ir.SourceLocation | None) -> None:
    """Refuse ``{{`` anywhere in a value the user wrote (a name, a key, an image, a label, a selector):
    Argo expands it wherever it stands and has no escape for it. One rule for every field, so that no
    field is missed."""
    if isinstance(value, str):
        if "{{" in value:
            raise CompileError(
                f"{what} {value!r} contains '{{{{', which Argo would expand; Argo has no escape for it",
                BACKEND,
                location=location,
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_braces(key, f"{what} key", location)
            refuse_braces(item, f"{what} {key}", location)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            refuse_braces(item, f"{what}[{index}]", location)


def retry_strategy(retry: ir.Retry | None) -> dict[str, Any] | None:
    """``retryStrategy`` for ``retry``: the same attempts and waits as every backend (``ml.Retry`` accepts
    only whole seconds and whole factors, which Argo holds exactly), and no retry after the runtime's
    "failed for good" exit status."""
    if retry is None or retry.attempts <= 1:
        return None
    strategy: dict[str, Any] = {
        "limit": str(retry.attempts - 1),  # the IR counts attempts, Argo counts retries
        "retryPolicy": "Always",
        "expression": f"lastRetry.exitCode != '{EXIT_NEVER_RETRY}'",
    }
    if retry.backoff > 0:
        # Argo waits duration * factor ** (n - 1) before retry n, as Retry.delay(n) does. Retry refuses a
        # max_backoff that would cap a wait, so Argo's cap is never needed.
        strategy["backoff"] = {"duration": f"{int(retry.backoff)}s", "factor": str(int(retry.factor))}
    return strategy


def _resources(res: ir.Resources) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", res.cpu), ("memory", res.memory)) if v is not None}
    limits = {
        k: v
        for k, v in (("cpu", res.cpu_limit or res.cpu), ("memory", res.memory_limit or res.memory))
        if v is not None
    }
    if res.gpu:
        kind = res.gpu_type if res.gpu_type and "/" in res.gpu_type else "nvidia.com/gpu"
        limits[kind] = str(res.gpu)
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _env(step: ir.StepSpec, bundled: bool) -> list[dict[str, Any]]:
    options = step.options
    env: list[dict[str, Any]] = [
        {"name": LAUNCHER_ENV, "value": f"{{{{workflow.parameters.{LAUNCHER_PARAMETER}}}}}"}
    ]
    if bundled:
        env.append({"name": RUNTIME_ENV, "value": f"{{{{workflow.parameters.{RUNTIME_PARAMETER}}}}}"})
    if options.packages:
        env.append({"name": PACKAGES_ENV, "value": armor(list(options.packages))})
    for name in sorted(options.env):
        env.append({"name": name, "value": _literal(options.env[name], f"env {name}", step)})
    for secret in options.secrets:
        env.append(
            {"name": secret.env, "valueFrom": {"secretKeyRef": {"name": secret.name, "key": secret.key}}}
        )
    return env


def _volumes(step: ir.StepSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for n, vol in enumerate(step.options.kubernetes.volumes, 1):
        name = f"volume-{n}"
        if vol.pvc is not None:
            volumes.append({"name": name, "persistentVolumeClaim": {"claimName": vol.pvc}})
        elif vol.config_map is not None:
            volumes.append({"name": name, "configMap": {"name": vol.config_map}})
        elif vol.secret is not None:
            volumes.append({"name": name, "secret": {"secretName": vol.secret}})
        else:
            volumes.append({"name": name, "emptyDir": {}})
        mount: dict[str, Any] = {"name": name, "mountPath": vol.mount_path}
        if vol.read_only:
            mount["readOnly"] = True
        mounts.append(mount)
    return volumes, mounts


def _toleration(t: ir.Toleration) -> dict[str, Any]:
    out: dict[str, Any] = {"operator": t.operator}
    for key, value in (
        ("key", t.key),
        ("value", t.value),
        ("effect", t.effect),
        ("tolerationSeconds", t.seconds),
    ):
        if value is not None:
            out[key] = value
    return dict(sorted(out.items()))


def repository_key(options: CompileOptions, *parts: str) -> str:
    """A key in the artifact repository under this workflow's folder (``PREFIX/WORKFLOW/...``)."""
    repo = options.artifact_repository
    root = repo.key_prefix.strip("/") if repo is not None else "mlopsdsl"
    return "/".join([root, "{{workflow.name}}", *parts])


def artifact_uri(options: CompileOptions, key: str) -> str | None:
    """The URI of the key ``key`` (``s3://BUCKET/KEY``), when the bucket is known: the explicit
    repository's, or ``artifact_bucket`` for the cluster's default one."""
    repo = options.artifact_repository
    bucket = repo.bucket if repo is not None else options.artifact_bucket
    return f"s3://{bucket}/{key}" if bucket else None


def s3_key(options: CompileOptions, key: str) -> dict[str, Any]:
    """An S3 location: the explicit repository's, or key-only (the cluster's default repository fills in
    the bucket and credentials; Argo >= 3.0)."""
    if options.artifact_repository is None:
        return {"key": key}
    return _s3(options.artifact_repository, key)


def _s3(repo: S3Repository, key: str) -> dict[str, Any]:
    s3: dict[str, Any] = {
        "endpoint": repo.endpoint,
        "bucket": repo.bucket,
        "key": key,
        "accessKeySecret": {"name": repo.access_key.name, "key": repo.access_key.key},
        "secretKeySecret": {"name": repo.secret_key.name, "key": repo.secret_key.key},
    }
    if repo.region:
        s3["region"] = repo.region
    if repo.insecure:
        s3["insecure"] = True
    return s3


def template_metrics(pipeline: str, step: str) -> dict[str, Any]:
    """Argo's own metrics of a step template, which the controller serves to Prometheus: each run's
    duration and a count of runs, by status (``{{duration}}``, ``{{status}}``: Argo's template-metric
    variables). A step's own metrics (``ml.log_metric``) have names known only when it runs, so they go
    through the Pushgateway (``pushgateway=``)."""
    from mlopsdsl.runtime.push import BUCKETS

    labels = [
        {"key": "pipeline", "value": pipeline},
        {"key": "step", "value": step},
        {"key": "status", "value": "{{status}}"},
    ]
    return {
        "prometheus": [
            {
                "name": "mlopsdsl_argo_step_duration_seconds",
                "help": "How long a step's pod ran, by status (Argo template metric).",
                "labels": labels,
                "histogram": {"value": "{{duration}}", "buckets": list(BUCKETS)},
            },
            {
                "name": "mlopsdsl_argo_step_runs_total",
                "help": "Runs of a step's pod, by status (Argo template metric).",
                "labels": labels,
                "counter": {"value": "1"},
            },
        ]
    }


def container_template(
    name: str,
    step: ir.StepSpec,
    signature: Signature,
    code: dict[str, Any],
    options: CompileOptions,
    collect: str | None = None,
    pod: ir.Pod | None = None,
    pipeline: str | None = None,
) -> dict[str, Any]:
    """The container template for ``step`` with the given input signature.

    Args:
        pod: The step's pod settings, the pipeline's included (``mlopsdsl.lowering.pod_of``).
        pipeline: The pipeline's name, for ``ml.current()``.
        collect: For a task that runs once per element: the key prefix (under the workflow's folder) that
            each run uploads its stored outputs to, as ``PREFIX/OUTPUT/POD``, so that a consumer can fetch
            them all as one folder (Argo cannot aggregate artifacts of a loop).
    """
    options_given = ir.dump(step.options, exclude_none=True)
    refuse_braces(options_given, f"step {step.name!r}:", step.location)
    params = {p.name: p for p in step.inputs}
    passed = [(params[n], source, list(path)) for n, source, path in signature if source != "omit"]
    cache = None
    if options.cache_root is not None and step.options.cache:
        from mlopsdsl.runtime._cache import spec_section

        opts = step.options
        cache = spec_section(
            step.digest, options.cache_root, options.cache, opts.cache_ignore, opts.cache_max_age
        )
    spec = call_spec(step, code, passed, cache, pipeline)
    order = [(p.name, source) for p, source, _ in passed]

    in_params: list[dict[str, Any]] = []
    in_artifacts: list[dict[str, Any]] = []
    for pname, source in order:
        if source in ("json", "gathered", "status"):
            in_params.append({"name": pname})
        elif source == "stored":
            in_params.append({"name": pname + META})
            in_artifacts.append({"name": pname, "path": input_path(pname)})
        else:  # collected: every run's output under one key prefix, missing when the loop ran nothing
            in_params += [{"name": pname + META}, {"name": pname + "-key"}]
            key = f"{{{{inputs.parameters.{pname}-key}}}}"
            in_artifacts.append(
                {"name": pname, "path": input_path(pname), "optional": True, "s3": s3_key(options, key)}
            )
    inputs: dict[str, Any] = {}
    if in_params:
        inputs["parameters"] = in_params
    if in_artifacts:
        inputs["artifacts"] = in_artifacts
    outputs: dict[str, Any] = {}
    out_params: list[dict[str, Any]] = []
    for o in step.outputs:
        stored = stored_kind(o.type) is not None
        pname = o.name + META if stored else o.name
        out_params.append({"name": pname, "valueFrom": {"path": output_path(pname, stored=False)}})
    # What the step logged with ml.log_metric, last value per name (armored JSON, like every output).
    out_params.append({"name": METRICS, "valueFrom": {"path": output_path(METRICS, stored=False)}})
    outputs["parameters"] = out_params
    out_stored = [o for o in step.outputs if stored_kind(o.type) is not None]
    uris: dict[str, str] = {}
    if out_stored:
        artifacts = []
        for o in out_stored:
            # Every stored output goes to a key of ours, as it is (no archive), so that its URI names the
            # bytes themselves: under the loop's prefix for a mapped task, else under the pod's folder.
            if collect is not None:
                key = repository_key(options, collect, o.name, "{{pod.name}}")
            else:
                key = repository_key(options, "{{pod.name}}", o.name)
            artifacts.append(
                {
                    "name": o.name,
                    "path": output_path(o.name, stored=True),
                    "archive": {"none": {}},
                    "s3": s3_key(options, key),
                }
            )
            uri = artifact_uri(options, key)
            if uri is not None:
                uris[o.name] = uri
        outputs["artifacts"] = artifacts

    opts = step.options
    kube = opts.kubernetes
    volumes, mounts = _volumes(step)
    env = _env(step, options.runtime == "bundle")
    for env_name, url, option in (
        (PUSH_ENV, options.pushgateway, "pushgateway"),
        ("MLFLOW_TRACKING_URI", options.tracking_uri, "tracking_uri"),
    ):
        if url is not None and env_name not in step.options.env:  # the step's own env wins
            env.append({"name": env_name, "value": _literal(url, option, step)})
    if collect is not None and out_stored:
        env.append({"name": ITEM_ENV, "value": "{{pod.name}}"})
    container: dict[str, Any] = {
        "image": opts.image or options.image or default_image(),
        "command": launch_command(BOOT),
        "args": container_args(spec, order, uris),
    }
    container["env"] = env
    resources = _resources(opts.resources)
    if resources:
        container["resources"] = resources
    if pod is not None and pod.image_pull_policy is not None:
        container["imagePullPolicy"] = pod.image_pull_policy
    security = container_security(pod, options.non_root)
    if security is not None:
        container["securityContext"] = security
    shm = shm_volume(pod)
    if shm is not None:
        volumes.append(shm[0])
        mounts.append(shm[1])
    if mounts:
        container["volumeMounts"] = mounts

    template: dict[str, Any] = {"name": name}
    if inputs:
        template["inputs"] = inputs
    if outputs:
        template["outputs"] = outputs
    template["metrics"] = template_metrics(pipeline or "", step.name)
    metadata: dict[str, Any] = {}
    if kube.labels:
        metadata["labels"] = dict(sorted(kube.labels.items()))
    if kube.annotations:
        metadata["annotations"] = {
            k: _literal(v, f"annotation {k}", step).replace("$$", "$")
            for k, v in sorted(kube.annotations.items())
        }
    if metadata:
        template["metadata"] = metadata
    if kube.node_selector:
        template["nodeSelector"] = dict(sorted(kube.node_selector.items()))
    if kube.tolerations:
        template["tolerations"] = [_toleration(t) for t in kube.tolerations]
    if volumes:
        template["volumes"] = volumes
    template.update(pod_fields(pod))
    if opts.timeout is not None:
        template["activeDeadlineSeconds"] = str(max(1, math.ceil(opts.timeout)))
    retry = retry_strategy(opts.retry)
    if retry is not None:
        template["retryStrategy"] = retry
    template["container"] = container
    return template
