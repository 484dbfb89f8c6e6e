"""What runs in a step's pod: the launcher program, the call spec, and the container's command line.

Every step container runs the same small launcher with the image's own Python, never a shell. The
launcher is in the manifest once, as the workflow parameter :data:`LAUNCHER_PARAMETER`, which each container
template reads through one env var and runs (:data:`BOOT`, ``python -c BOOT``): a template per distinct
step would otherwise carry its ~2.7 KB. The launcher

1. installs the step's ``packages`` and, with ``runtime="bundle"`` (the default), puts the runtime bundle
   on ``sys.path``, as every backend's launcher does (:func:`mlopsdsl.lowering.launch_prologue`); the
   bundle arrives in the ``MLOPSDSL_RUNTIME`` environment variable from one workflow parameter
   (:data:`RUNTIME_PARAMETER`), so it is in the manifest once, whatever the number of steps, and not in
   each node's status. With ``runtime="image"`` there is no bundle: the image's mlopsdsl is imported;
2. decodes the inputs that are *collected* from a loop: Argo aggregates a looped task's output parameter
   into a JSON list of each run's text (and into empty text when the loop ran nothing), so an input named
   by ``--gather NAME`` becomes the JSON list of the decoded values, and one named by ``--records
   NAME=FOLDER`` becomes the list of the runs' output records, each ``file`` made absolute under FOLDER
   (the key prefix every run uploaded its stored output to, downloaded as one folder); ``--record
   NAME=FOLDER`` does the same for one run's record (the ``{{item}}`` of a map over those results);
3. runs the step runtime (``mlopsdsl.runtime.main``) with the call spec and the ``--arg NAME=TEXT`` items
   Argo substituted;
4. writes each JSON output from the runtime's result record to ``outputs/NAME.json`` as armored JSON
   (see :mod:`mlopsdsl_argo._values`), where the template's output parameters read it (``valueFrom.path``),
   and each stored output's record (digest, serialiser, metadata: what the consumer's ``meta`` reads) to
   ``outputs/NAME-meta.json``, armored too, naming in ``file`` the run's key (``MLOPSDSL_ITEM``) when the
   output is uploaded under a loop's key prefix, and in ``uri`` where it is stored (``--uri NAME=URI``,
   when the bucket is known), which the consumer's runtime hands to the step as ``ml.Artifact.uri``.

The call spec names the step's code (:func:`mlopsdsl.lowering.code_spec`), inlined once per template.
Inputs arrive as armored JSON too, so a step's value never holds ``{{``, ``$`` or non-ASCII text on its way
through Argo or Kubernetes, and ``json.loads`` restores it exactly.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from mlopsdsl import ir
from mlopsdsl.lowering import launch_prologue, stored_kind, tolerant_section
from mlopsdsl_argo._values import armor

__all__ = [
    "BOOT",
    "CONTEXT_RUN",
    "ITEM_ENV",
    "LAUNCHER",
    "LAUNCHER_ENV",
    "LAUNCHER_PARAMETER",
    "METRICS",
    "META",
    "RUNTIME_PARAMETER",
    "WORK",
    "call_spec",
    "container_args",
    "input_path",
    "launcher",
    "output_path",
]

WORK = "/tmp/mlopsdsl"
"""The launcher's folder in the pod: bundle, result record, inputs and outputs."""
RUNTIME_PARAMETER = "mlopsdsl-runtime"
"""The workflow parameter holding the runtime bundle; its ``-`` keeps it apart from Python names."""
LAUNCHER_PARAMETER = "mlopsdsl-launcher"
"""The workflow parameter holding the launcher (:func:`launcher`), for the compiled ``runtime``."""
LAUNCHER_ENV = "MLOPSDSL_LAUNCHER"
"""The env var each step container gets the launcher in, from :data:`LAUNCHER_PARAMETER`."""
BOOT = f'import os; exec(os.environ["{LAUNCHER_ENV}"])'
"""What each step container runs (``python -c BOOT ...``): the launcher, from its env var."""
ITEM_ENV = "MLOPSDSL_ITEM"
META = "-meta"
"""Suffix of the output parameter (and input parameter) carrying a stored value's output record."""
METRICS = "mlopsdsl-metrics"
"""Every step template's output parameter holding the metrics the step logged (``ml.log_metric``), each
metric's last value by name, as armored JSON (no Python name can clash with it)."""
CONTEXT_RUN = "mlopsdsl-run"
"""The ``--arg`` that carries the workflow's name (``{{workflow.name}}``) to ``ml.current().run_id``."""
CONTEXT_RETRIES = "mlopsdsl-retries"
"""The ``--arg`` that carries ``{{retries}}`` (which attempt this is, from 0) to a tolerant map's element
that retries: its runtime must know when an attempt is the last (``lowering.tolerant_section``). Argo binds
``retries`` in a template with a ``retryStrategy`` only, which is exactly such a step's."""

_SPEC_STEP = 'json.loads(sys.argv[sys.argv.index("--spec-json") + 1]).get("step")'
"""Where the launcher finds the step's name: in the call spec after ``--spec-json``."""

_HEAD = f"""\
import json, os, re, sys
work = {WORK!r}
os.makedirs(work + "/outputs", exist_ok=True)
"""
_BODY = f"""\
argv, gather, records, single, uris = sys.argv[1:], set(), {{}}, set(), {{}}
while argv and argv[0] in ("--gather", "--records", "--record", "--uri"):
    if argv[0] == "--gather":
        gather.add(argv[1])
    elif argv[0] in ("--records", "--record"):
        records[argv[1].partition("=")[0]] = argv[1].partition("=")[2]
        if argv[0] == "--record":
            single.add(argv[1].partition("=")[0])
    else:
        uris[argv[1].partition("=")[0]] = argv[1].partition("=")[2]
    argv = argv[2:]


def texts(text):
    return [json.loads(t) for t in json.loads(text)] if text.strip() else []


for i in range(len(argv) - 1):
    name, _, text = argv[i + 1].partition("=")
    if argv[i] == "--arg" and name in gather:
        argv[i + 1] = name + "=" + json.dumps(texts(text))
    elif argv[i] == "--arg" and name in records:
        runs = [json.loads(text)] if name in single else texts(text)
        for run in runs:
            run["file"] = records[name] + "/" + run["file"]
        argv[i + 1] = name + "=" + json.dumps(runs)
from mlopsdsl.runtime import main
status = main(argv)
if status == 0:
    with open(work + "/result.json", encoding="utf-8") as f:
        record = json.load(f)
    esc = {{"{{": "\\\\u007b", "}}": "\\\\u007d", "$": "\\\\u0024"}}

    def armor(string):
        return re.sub(r"[{{}}$]", lambda c: esc[c.group()], string.group())

    def write(name, value):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
        text = re.sub(r'"(?:[^"\\\\]|\\\\.)*"', armor, text)
        with open(work + "/outputs/" + name + ".json", "w", encoding="ascii") as f:
            f.write(text)

    for name, out in record["outputs"].items():
        if out["kind"] == "json":
            write(name, out["value"])
        else:
            meta = {{k: v for k, v in out.items() if k != "file"}}
            if os.environ.get("{ITEM_ENV}"):
                meta["file"] = os.environ["{ITEM_ENV}"]
            if name in uris:
                meta["uri"] = uris[name]
            write(name + "{META}", meta)
    write("{METRICS}", {{p["name"]: p["value"] for p in record.get("metrics", [])}})
sys.exit(status)
"""


@cache
def launcher(runtime: str = "bundle") -> str:
    """The program every step container runs (through :data:`BOOT`, with ``--spec-json SPEC --arg ...``),
    for the ``runtime`` compile option: ``image`` imports the image's mlopsdsl, ``bundle`` the bundle's."""
    return _HEAD + launch_prologue(_SPEC_STEP, runtime) + _BODY


LAUNCHER = launcher("bundle")
"""The launcher of ``runtime="bundle"``, the default."""


def input_path(name: str) -> str:
    """Where a stored input (object or artifact) is placed in the pod."""
    return f"{WORK}/inputs/{name}"


def output_path(name: str, stored: bool) -> str:
    """Where an output is written in the pod: the stored bytes, or the armored JSON of a value."""
    return f"{WORK}/outputs/{name}" if stored else f"{WORK}/outputs/{name}.json"


def call_spec(
    step: ir.StepSpec,
    code: dict[str, Any],
    inputs: list[tuple[ir.Param, str, list[str | int]]],
    cache: dict[str, Any] | None = None,
    pipeline: str | None = None,
) -> dict[str, Any]:
    """The runtime's call spec for one template of ``step``.

    Args:
        step: The step.
        code: The ``code`` part (by value or by import).
        inputs: The inputs this template passes: each parameter, how it arrives (``json``: armored JSON in
            ``--arg``; ``gathered``: a loop's aggregated texts; ``stored``: a file plus its producer's
            record; ``collected``: a loop's stored outputs as records and a folder; ``status``: the
            workflow's status as plain text), and the field path to select from the value.
        cache: The ``cache`` section, when the pod applies the runtime's cache (``cache_root``).
        pipeline: The pipeline's name, for ``ml.current()``.
    """
    items: list[dict[str, Any]] = []
    for param, source, path in inputs:
        item: dict[str, Any] = {"name": param.name}
        kind = stored_kind(param.type)
        if source == "element":  # one of a loop's stored results: a collected list of one, selected
            path = [0, *path]
            elem = param.type
            item.update(kind="collected", item_kind=stored_kind(elem) or "object")
            if elem.kind == "artifact":
                item["type"] = elem.name or "Artifact"
            item["records"] = {"arg": param.name + META}
        elif source == "collected":
            elem = param.type.items or param.type
            item.update(kind="collected", item_kind=stored_kind(elem) or "object")
            if elem.kind == "artifact":
                item["type"] = elem.name or "Artifact"
            item["records"] = {"arg": param.name + META}
        elif source == "stored":
            kind = kind or "object"  # a field of a stored object, into an input that takes a value
            item.update(kind=kind, file=input_path(param.name), meta={"arg": param.name + META})
            if kind == "artifact":
                item["type"] = (param.type.items or param.type).name or "Artifact"
        else:
            item.update(kind="json", arg=param.name)
            if source == "status":
                item["raw"] = True
        if path:
            item["select"] = path
        items.append(item)
    outputs: list[dict[str, Any]] = []
    for out in step.outputs:
        kind = stored_kind(out.type)
        entry: dict[str, Any] = {"name": out.name, "kind": kind or "json"}
        if kind is not None:
            entry["file"] = output_path(out.name, stored=True)
            if kind == "object" and out.type.name:
                entry["type"] = out.type.name  # picks the serialiser (npy, parquet...) before the class does
        outputs.append(entry)
    spec: dict[str, Any] = {
        "version": 1,
        "step": step.name,
        "code": code,
        "inputs": items,
        "outputs": outputs,
        "returns": step.returns.kind,
        "result": f"{WORK}/result.json",
        "context": {
            "backend": "argo",
            "pipeline": pipeline,
            "run_id": {"arg": CONTEXT_RUN},
            "step_digest": step.digest,
        },
    }
    retry = step.options.retry.runtime_spec() if step.options.retry is not None else None
    if retry is not None:
        spec["retry"] = retry  # stop_on: the runtime exits with EXIT_NEVER_RETRY, which retryStrategy reads
    tolerant = tolerant_section(step)
    if tolerant is not None:
        spec["tolerant"] = tolerant
        if tolerant["attempts"] > 1:
            spec["context"]["retries"] = {"arg": CONTEXT_RETRIES}
    if cache is not None:
        spec["cache"] = cache
    return spec


def container_args(
    spec: dict[str, Any], signature: list[tuple[str, str]], uris: dict[str, str] | None = None
) -> list[str]:
    """The container's ``args``: the launcher's own flags (collected inputs, where stored outputs go), the
    armored call spec, then one ``--arg NAME=VALUE`` pair per value passed as a parameter.

    Each value is a separate argv item holding exactly what Argo substitutes, so no shell and no quoting
    is involved anywhere.

    Args:
        spec: The call spec.
        signature: Each input passed, by name, with how it arrives (see :func:`call_spec`).
        uris: The URI each stored output is uploaded to (``--uri NAME=URI``, with ``{{pod.name}}`` for Argo
            to fill in), which the launcher adds to the output's record, so consumers know it.
    """
    flags: list[str] = []
    for name, source in signature:
        if source == "gathered":
            flags += ["--gather", name]
        elif source == "collected":
            flags += ["--records", f"{name}{META}={input_path(name)}"]
        elif source == "element":
            flags += ["--record", f"{name}{META}={input_path(name)}"]
    for name, uri in sorted((uris or {}).items()):
        flags += ["--uri", f"{name}={uri}"]
    args = [*flags, "--spec-json", armor(spec), "--arg", f"{CONTEXT_RUN}={{{{workflow.name}}}}"]
    if spec["context"].get("retries") is not None:
        args += ["--arg", f"{CONTEXT_RETRIES}={{{{retries}}}}"]
    for name, source in signature:
        if source in ("json", "gathered", "status"):
            args += ["--arg", f"{name}={{{{inputs.parameters.{name}}}}}"]
        elif source in ("stored", "collected", "element"):
            args += ["--arg", f"{name}{META}={{{{inputs.parameters.{name}{META}}}}}"]
    return args
