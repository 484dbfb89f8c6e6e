"""Writing a :class:`~mlopsdsl_airflow._plan.Plan` as one readable, deterministic Python DAG file.

The file reads top down: what the DAG is (docstring), the data every task shares (the runtime bundle, the
launcher, the call specs, each step's pod settings, the blocks' conditions, how to read the outputs), the
fixed helpers (:mod:`._dagfile`), then the DAG itself: one statement per task, then the dependencies.
Values are written with ``repr``/``pprint`` of plain data, so the same IR gives the same bytes.
"""

from __future__ import annotations

import json
import keyword
import math
import pprint
import re
from typing import Any

from mlopsdsl import ir
from mlopsdsl.errors import CompileError
from mlopsdsl.lowering import INTERPRETER, PACKAGES_ENV, RUNTIME_ENV, pod_of, runtime_bundle_text
from mlopsdsl.lowering._kube import (
    DEFAULT_POD_SECURITY,
    affinity_spec,
    container_security,
    pod_security_context,
    shm_volume,
)
from mlopsdsl_airflow._dagfile import HELPERS, IMPORTS, OPERATORS
from mlopsdsl_airflow._launch import jinja_safe, launcher
from mlopsdsl_airflow._options import BACKEND, CompileOptions, default_image
from mlopsdsl_airflow._plan import Branch, Plan, StepTask

__all__ = ["render"]

STATUS_TASK = "mlopsdsl-status"
_PARAM_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "str": "string", "list": "array",
                "dict": "object", "null": "null"}  # fmt: skip


def _fmt(value: Any, indent: int = 0) -> str:
    text = pprint.pformat(value, width=110 - indent, sort_dicts=False)
    return text.replace("\n", "\n" + " " * indent)


def _literal(text: str, what: str, step: ir.StepSpec) -> str:
    """A user's text for a templated operator field: refused when Jinja would expand it."""
    if re.search(r"\{[{%#]", text):
        raise CompileError(
            f"step {step.name!r}: {what} {text!r} contains a Jinja opener ('{{{{', '{{%' or '{{#'), which "
            "Airflow would render",
            BACKEND,
            location=step.location,
        )
    return repr(text)


class _Names:
    """Python variable names for task ids, unique and readable."""

    def __init__(self) -> None:
        self.taken: dict[str, str] = {}
        self.used: set[str] = {"dag", "json", "k8s", "re", "operator", "pendulum", "timedelta"}

    def __call__(self, task_id: str) -> str:
        if task_id not in self.taken:
            base = _IDENT.sub("_", task_id)
            if not base or base[0].isdigit() or keyword.iskeyword(base) or base.isupper():
                base = f"t_{base}"
            name, n = base, 1
            while name in self.used:
                n += 1
                name = f"{base}_{n}"
            self.used.add(name)
            self.taken[task_id] = name
        return self.taken[task_id]


_IDENT = re.compile(r"[^0-9a-zA-Z_]")


def _param(p: ir.Param) -> str:
    type_ = p.type
    schema: list[str] = []
    inner = type_.items if type_.kind == "optional" and type_.items is not None else type_
    if inner.kind in _PARAM_TYPES:
        kinds = [_PARAM_TYPES[inner.kind], "null"] if type_.kind == "optional" else _PARAM_TYPES[inner.kind]
        schema.append(f"type={kinds!r}")
    elif inner.kind == "enum" and inner.values is not None:
        schema.append(f"enum={[*inner.values, *([None] if type_.kind == 'optional' else [])]!r}")
    args = ([repr(p.default)] if p.optional else []) + schema
    return f"Param({', '.join(args)})"


def _kube(kind: str, data: Any) -> str:
    """Source for the Kubernetes client's model ``kind`` read from the API's JSON (``kube`` in the file)."""
    return f"kube({kind!r}, {data!r})"


def _pod(document: ir.Document, step: ir.StepSpec, options: CompileOptions) -> list[str]:
    """The operator's keyword arguments for every task of ``step``, as ``name=source`` lines."""
    opts = step.options
    kube = opts.kubernetes
    pod = pod_of(document, step)
    lines = [f"image={_literal(opts.image or options.image or default_image(), 'image', step)}"]
    if pod is not None and pod.image_pull_policy is not None:
        lines.append(f"image_pull_policy={pod.image_pull_policy!r}")
    env = [f"k8s.V1EnvVar(name={RUNTIME_ENV!r}, value=RUNTIME)"] if options.runtime == "bundle" else []
    if opts.packages:
        env.append(f"k8s.V1EnvVar(name={PACKAGES_ENV!r}, value={jinja_safe(list(opts.packages))!r})")
    for name in sorted(opts.env):
        env.append(f"k8s.V1EnvVar(name={name!r}, value={_literal(opts.env[name], f'env {name}', step)})")
    for secret in opts.secrets:
        ref = f"k8s.V1SecretKeySelector(name={secret.name!r}, key={secret.key!r})"
        env.append(f"k8s.V1EnvVar(name={secret.env!r}, value_from=k8s.V1EnvVarSource(secret_key_ref={ref}))")
    if env:
        lines.append("env_vars=[\n            " + ",\n            ".join(env) + ",\n        ]")
    res = opts.resources
    requests = {k: v for k, v in (("cpu", res.cpu), ("memory", res.memory)) if v is not None}
    limits = {k: v for k, v in (("cpu", res.cpu_limit or res.cpu), ("memory", res.memory_limit or res.memory))
              if v is not None}  # fmt: skip
    if res.gpu:
        limits[res.gpu_type if res.gpu_type and "/" in res.gpu_type else "nvidia.com/gpu"] = str(res.gpu)
    if requests or limits:
        parts = [f"{k}={v!r}" for k, v in (("requests", requests), ("limits", limits)) if v]
        lines.append(f"container_resources=k8s.V1ResourceRequirements({', '.join(parts)})")
    if kube.node_selector:
        lines.append(f"node_selector={dict(sorted(kube.node_selector.items()))!r}")
    if kube.tolerations:
        tols = []
        for t in kube.tolerations:
            fields = [("key", t.key), ("operator", t.operator), ("value", t.value), ("effect", t.effect),
                      ("toleration_seconds", t.seconds)]  # fmt: skip
            tols.append(
                "k8s.V1Toleration(" + ", ".join(f"{k}={v!r}" for k, v in fields if v is not None) + ")"
            )
        lines.append(f"tolerations=[{', '.join(tols)}]")
    volumes: list[str] = []
    mounts: list[str] = []
    if kube.volumes:
        for n, vol in enumerate(kube.volumes, 1):
            name = f"volume-{n}"
            if vol.pvc is not None:
                source = (
                    f"persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name={vol.pvc!r})"
                )
            elif vol.config_map is not None:
                source = f"config_map=k8s.V1ConfigMapVolumeSource(name={vol.config_map!r})"
            elif vol.secret is not None:
                source = f"secret=k8s.V1SecretVolumeSource(secret_name={vol.secret!r})"
            else:
                source = "empty_dir=k8s.V1EmptyDirVolumeSource()"
            volumes.append(f"k8s.V1Volume(name={name!r}, {source})")
            ro = ", read_only=True" if vol.read_only else ""
            mounts.append(f"k8s.V1VolumeMount(name={name!r}, mount_path={vol.mount_path!r}{ro})")
    shm = shm_volume(pod)
    if shm is not None:
        volumes.append(_kube("V1Volume", shm[0]))
        mounts.append(_kube("V1VolumeMount", shm[1]))
    if volumes:
        lines.append(f"volumes=[{', '.join(volumes)}]")
        lines.append(f"volume_mounts=[{', '.join(mounts)}]")
    if kube.labels:
        lines.append("labels={" + ", ".join(f"{k!r}: {_literal(v, f'label {k}', step)}"
                                            for k, v in sorted(kube.labels.items())) + "}")  # fmt: skip
    if kube.annotations:
        notes = [
            f"{k!r}: {_literal(v, f'annotation {k}', step)}" for k, v in sorted(kube.annotations.items())
        ]
        lines.append("annotations={" + ", ".join(notes) + "}")
    chosen = pod_security_context(pod) or (DEFAULT_POD_SECURITY if options.non_root else None)
    if chosen is not None:
        lines.append(f"security_context={_kube('V1PodSecurityContext', chosen)}")
    container = container_security(pod, options.non_root)
    if container is not None:
        lines.append(f"container_security_context={_kube('V1SecurityContext', container)}")
    if options.namespace:
        lines.append(f"namespace={options.namespace!r}")
    if options.kubernetes_conn_id:
        lines.append(f"kubernetes_conn_id={options.kubernetes_conn_id!r}")
    account = pod.service_account if pod is not None and pod.service_account is not None else None
    if account or options.service_account:
        lines.append(f"service_account_name={account or options.service_account!r}")
    if pod is not None:
        lines += _pod_settings(pod)
    lines += ["do_xcom_push=True", "get_logs=True", "on_finish_action='delete_pod'"]
    retry = opts.retry
    if retry is not None and retry.attempts > 1:
        lines.append(f"retries={retry.attempts - 1}")
        lines.append(f"retry_delay=timedelta(seconds={int(retry.backoff)})")
        if retry.backoff > 0 and retry.factor != 1:
            lines.append(f"retry_exponential_backoff={float(retry.factor)!r}")
            lines.append(f"retry_policy=Backoff({int(retry.backoff)}, {int(retry.factor)})")
        if retry.max_backoff is not None:
            lines.append(f"max_retry_delay=timedelta(seconds={int(retry.max_backoff)})")
    if opts.timeout is not None:
        lines.append(f"execution_timeout=timedelta(seconds={max(1, math.ceil(opts.timeout))})")
    return lines


def _pod_settings(pod: ir.Pod) -> list[str]:
    """The settings of :class:`mlopsdsl.Pod` that are not volumes, users or accounts."""
    lines: list[str] = []
    affinity = affinity_spec(pod.affinity)
    if affinity:
        lines.append(f"affinity={_kube('V1Affinity', affinity)}")
    if pod.image_pull_secrets:
        refs = ", ".join(f"k8s.V1LocalObjectReference(name={name!r})" for name in pod.image_pull_secrets)
        lines.append(f"image_pull_secrets=[{refs}]")
    if pod.priority_class is not None:
        lines.append(f"priority_class_name={pod.priority_class!r}")
    if pod.patch is not None:  # checked against the Kubernetes models by check_patches
        lines.append(f"pod_patch={json.loads(json.dumps(pod.patch, sort_keys=True))!r}")
    return lines


def _args(task: StepTask) -> list[str]:
    items = [f"SPECS[{task.spec['name']!r}]"]
    for name, template in task.args:
        items += ["'--arg'", repr(f"{name}={template}")]
    return items


def render(document: ir.Document, plan: Plan, options: CompileOptions) -> str:
    """The DAG file of ``plan``."""
    root = document.pipeline
    names = _Names()
    where = f"{root.location.file}:{root.location.line}" if root.location else root.name
    doc = [f'"""{root.name}: an Airflow DAG generated by mlopsdsl from the pipeline at {where}.', ""]
    if root.description:
        doc += [root.description.strip().replace('"""', "'''").replace("\\", "\\\\"), ""]
    doc += [
        "Change the pipeline and compile again rather than editing this file. Every task runs one step in a",
        "pod through the mlopsdsl step runtime, and its XCom is the runtime's result record. See",
        "docs/airflow.md in the mlopsdsl repository for how pipelines map onto Airflow.",
        '"""',
        "",
    ]
    out = ["\n".join(doc), IMPORTS, OPERATORS[options.operator], ""]
    if options.runtime == "bundle":
        out.append(f"RUNTIME = {runtime_bundle_text(plan.uses_pickle)!r}")
        out.append(
            '"""The mlopsdsl step runtime (a bzip2-compressed zip, base64), handed to every pod in one '
            'environment variable."""'
        )
    out.append(f'LAUNCHER = """\\\n{launcher(options.runtime)}"""')
    out.append(f"COMMAND = [{', '.join(json.dumps(part) for part in INTERPRETER)}, LAUNCHER]\n")
    out.append("SPECS = {")
    for name, text in plan.specs.items():
        out.append(f"    {name!r}: {text!r},")
    out.append("}")
    out.append('"""The call spec of each step (what it runs, how each input arrives), as JSON text."""\n\n')
    out.append(HELPERS)
    steps: dict[str, ir.StepSpec] = {}
    for t in plan.tasks:
        if isinstance(t, StepTask):
            steps.setdefault(t.step.name, t.step)
    out.append("PODS = {")
    for name, step in steps.items():
        out.append(f"    {name!r}: dict(")
        out += [f"        {line}," for line in _pod(document, step, options)]
        out.append("    ),")
    out.append("}")
    out.append('"""Each step\'s pod and retry settings, shared by its tasks."""\n')
    blocks = {b.id: (b.condition, b.follow) for b in plan.tasks if isinstance(b, Branch)}
    out.append(f"BLOCKS = {_fmt(blocks)}")
    out.append('"""Each when/otherwise block: its condition, and the tasks it runs or skips."""\n')
    out.append(f"OUTPUTS = {_fmt(plan.outputs)}")
    out.append('"""Where each pipeline output is found once the run is over."""\n\n')
    dag_args = [
        f"dag_id={(options.dag_id or root.name)!r}",
        *_schedule(root, options),
        "start_date=pendulum.datetime(2024, 1, 1, tz='UTC')",
        "tags=['mlopsdsl']",
        "user_defined_macros=MACROS",
    ]
    if root.description:
        dag_args.append(f"description={root.description.strip().splitlines()[0]!r}")
    if root.params:
        params = ",\n        ".join(f"{p.name!r}: {_param(p)}" for p in root.params)
        dag_args.append("params={\n        " + params + ",\n    }")
    out.append("with DAG(\n    " + ",\n    ".join(dag_args) + ",\n) as dag:")
    body: list[str] = []
    edges: list[str] = []
    step_ids: list[str] = []
    exit_task: StepTask | None = None
    for t in plan.tasks:
        var = names(t.id)
        if isinstance(t, Branch):
            body += _call(var, "BranchPythonOperator", [
                f"task_id={t.id!r}", "python_callable=branch", f"op_args=[{t.id!r}]",
            ])  # fmt: skip
        elif t.exit:
            exit_task = t
            continue
        else:
            step_ids.append(t.id)
            body += _step(t, var, names)
        upstream = [names(u) for u in t.upstream]
        if isinstance(t, StepTask) and t.each is not None and t.each_upstream:
            edges.append(f"    {_list([names(u) for u in sorted(set(t.each_upstream))])} >> {names(t.each)}")
        if upstream:
            edges.append(f"    {_list(upstream)} >> {var}")
    if exit_task is not None:
        status = names(STATUS_TASK)
        body += _call(status, "PythonOperator", [
            f"task_id={STATUS_TASK!r}", "python_callable=succeeded", "trigger_rule='none_failed'",
        ])  # fmt: skip
        everything = [names(t.id) for t in plan.tasks if not (isinstance(t, StepTask) and t.exit)]
        if everything:
            edges.append(f"    {_list(everything)} >> {status}")
        var = names(exit_task.id)
        body += _step(exit_task, var, names, trigger_rule="all_done")
        edges.append(f"    {status} >> {var}")
        edges.append(f"    {var}.as_teardown()")
    out += body
    if edges:
        out.append("")
        out += edges
    return "\n".join(out) + "\n"


def _schedule(root: ir.PipelineSpec, options: CompileOptions) -> list[str]:
    """The DAG's schedule arguments: the ``schedule`` option (cron text), else the pipeline's schedule."""
    if options.schedule is not None:
        return [f"schedule={options.schedule!r}", "catchup=False", "max_active_runs=16"]
    plan = root.schedule
    if plan is None:
        return ["schedule=None", "catchup=False", "max_active_runs=16"]
    refused = [
        name
        for name, value, default in (
            ("replace_running", plan.replace_running, False),
            ("starting_deadline", plan.starting_deadline, None),
            ("keep_succeeded", plan.keep_succeeded, None),
            ("keep_failed", plan.keep_failed, None),
        )
        if value != default
    ]
    if refused:
        raise CompileError(
            f"schedule setting {', '.join(refused)} is not run by the {BACKEND} backend (Airflow schedules "
            "a DAG by cron, time zone, concurrency, catch-up and pause only)",
            BACKEND,
            location=root.location,
        )
    when = repr(plan.cron)
    if plan.timezone:
        when = f"CronTriggerTimetable({plan.cron!r}, timezone={plan.timezone!r})"
    runs = plan.max_concurrency if plan.max_concurrency is not None else 16
    return [
        f"schedule={when}",
        f"catchup={plan.catch_up!r}",
        f"max_active_runs={runs}",
        *([] if plan.enabled else ["is_paused_upon_creation=True"]),
    ]


def _list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"


def _step(t: StepTask, var: str, names: _Names, trigger_rule: str = "none_failed") -> list[str]:
    common = [f"task_id={t.id!r}", f"trigger_rule={trigger_rule!r}", f"**PODS[{t.step.name!r}]"]
    if t.expand is None:
        return _call(
            var,
            "StepOperator",
            [*common[:1], "cmds=COMMAND", f"arguments=[{', '.join(_args(t))}]", *common[1:]],
        )
    name, elements = t.expand
    lines = []
    if isinstance(elements, str):
        assert t.each is not None
        helper = names(t.each)
        stored = ", True" if t.expand_stored else ""
        lines += _call(helper, "PythonOperator", [
            f"task_id={t.each!r}", "python_callable=each", f"op_args=[{name!r}, {elements!r}{stored}]",
            f"trigger_rule={trigger_rule!r}",
        ])  # fmt: skip
        over = f"{helper}.output"
    else:
        over = "[" + ", ".join(f"['--arg', {(name + '=' + jinja_safe(e))!r}]" for e in elements) + "]"
    extra = [f"max_active_tis_per_dagrun={t.max_parallel}"] if t.max_parallel is not None else []
    partial = [*common[:1], f"cmds=[*COMMAND, {', '.join(_args(t))}]", *common[1:2], *extra, *common[2:]]
    lines += _call(var, "StepOperator.partial", partial)
    lines[-1] += f".expand(arguments={over})"
    return lines


def _call(var: str, what: str, args: list[str]) -> list[str]:
    return [f"    {var} = {what}(", *(f"        {a}," for a in args), "    )"]
