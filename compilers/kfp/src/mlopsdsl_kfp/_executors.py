"""Executors: the container that runs a step, and the one that hands the runtime bundle to the others.

Every step runs the step runtime (``docs/runtime.md``) with a JSON call spec as one argv item
(``--spec-json``). User values never pass through a shell or through the spec: each parameter input is a
separate ``--arg NAME={{$.inputs.parameters['NAME']}}`` item that KFP fills in, and the spec reads it with
the ``arg`` source (``raw`` for strings), so quotes, newlines, ``{{``, ``$(...)`` and non-ASCII text reach
the step unchanged. Only KFP-made paths (artifact and output-file placeholders) sit inside the spec.

Two ways to get the runtime into the pod (``runtime=`` compile option):

* ``bundle`` (default): the runtime bundle travels once per document, in the command of the
  ``mlopsdsl-runtime`` task, which unpacks it and writes its zip as an artifact; every step receives it as
  the input artifact ``mlopsdsl_runtime`` and runs ``python -c BOOTSTRAP ZIP ...``. Works on a stock
  ``python:3.X-slim`` image with no network.
* ``image``: the image has mlopsdsl installed; steps run ``python -m mlopsdsl.runtime`` and there is no
  extra task.

Steps with ``packages=`` first run ``pip install`` through a small Python prelude (no shell); no other step
installs anything. More preludes adapt what KFP hands a container to the runtime's contract:
:data:`STATUS_PRELUDE` turns the exit handler's ``PipelineTaskFinalStatus`` struct into
``"Succeeded"``/``"Failed"``; steps that read the executor input (``{{$}}``, :data:`EXECUTOR_PRELUDE`) use it
to turn a collected artifact list and its list of output records into the ``records`` of a ``collected``
input (:data:`COLLECT_PRELUDE`), and to tell the runtime where the executor output goes
(:data:`OUTPUT_PRELUDE`): a step with artifact outputs writes their metadata there, KFP's launcher merges it
into the artifacts it records, and the KFP UI shows it.

Kubernetes expands ``$(VAR)`` in a container's command, args and env before KFP's launcher fills in the
placeholders, so the user's text written literally (env values, ``packages``) has every ``$`` doubled
(:func:`mlopsdsl.naming.k8s_literal`).
:data:`UNPACK_PRELUDE` does for a pack (or one element of it) what :data:`COLLECT_PRELUDE` does for an
artifact list, and :data:`PACK` is the whole program of the task that makes a pack: it copies a collected
artifact list into one folder artifact (KFP keeps one artifact per name when a list enters a sub-DAG).

Every stored value (object or artifact) travels with its producer's output record as a ``STRUCT`` parameter
``NAME--meta`` (the runtime's ``meta_file`` -> ``meta``), so the reader knows the digest, the serialiser
(``npy``, ``parquet``, ``json``, ``cloudpickle``...) and the artifact metadata without guessing.
"""

from __future__ import annotations

import json
from typing import Any

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass
from mlopsdsl.lowering import launch_command
from mlopsdsl.naming import k8s_literal
from mlopsdsl.runtime.bundle import unpacker

from ._naming import PACK_INPUT, PACK_OUTPUT, RUNTIME_INPUT, RUNTIME_OUTPUT
from ._types import META, Encoding

__all__ = [
    "COLLECT_PRELUDE",
    "CONTEXT_RUN",
    "CONTEXT_TASK",
    "EXECUTOR_OUTPUT",
    "EXECUTOR_PRELUDE",
    "METRICS_OUTPUT",
    "OUTPUT_PRELUDE",
    "PACK",
    "PIP_PRELUDE",
    "STATUS_PRELUDE",
    "UNPACK_PRELUDE",
    "WRITE_BUNDLE",
    "Container",
    "InputPlan",
    "pack_container",
    "runtime_container",
    "step_container",
]

WRITE_BUNDLE = (
    "import io, os, sys, zipfile\n"
    + unpacker("sys.argv[2]")
    + "os.makedirs(os.path.dirname(sys.argv[1]) or '.', exist_ok=True)\n"
    "with zipfile.ZipFile(io.BytesIO(zipped)) as stored, zipfile.ZipFile(sys.argv[1], 'w') as out:\n"
    "    for info in stored.infolist():\n"
    "        out.writestr(info, stored.read(info), zipfile.ZIP_DEFLATED)\n"
)
"""``python -c WRITE_BUNDLE PATH BASE64``: the runtime task's whole program. It writes the bundle's zip with
its files deflated, as a zip carries them best alone: each step downloads the artifact and reads it with
``zipimport``, which needs only ``zlib``; only this task's image needs ``bz2``."""

PIP_PRELUDE = (
    "import subprocess, sys; n = int(sys.argv.pop(1)); packages = sys.argv[1:n + 1]; del sys.argv[1:n + 1]\n"
    "if subprocess.call([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-input', "
    "'--disable-pip-version-check', '--no-warn-script-location', *packages]):\n"
    "    import json; step = json.loads(sys.argv[sys.argv.index('--spec-json') + 1]).get('step')\n"
    "    sys.exit(f'mlopsdsl: step {step!r}: packages= could not be installed: {\" \".join(packages)}')\n"
)
"""Put before the runtime's bootstrap for steps with ``packages``: ``N PKG... `` come first in argv. A set
pip cannot install ends the pod with a message naming the step (pip's own reason is above it)."""

STATUS_PRELUDE = (
    "import json, sys; n = int(sys.argv.pop(1)); names = sys.argv[1:n + 1]; del sys.argv[1:n + 1]\n"
    "for i in range(1, len(sys.argv)):\n"
    "    for name in names:\n"
    "        if sys.argv[i - 1] == '--arg' and sys.argv[i].startswith(name + '='):\n"
    "            state = json.loads(sys.argv[i][len(name) + 1:]).get('state')\n"
    "            sys.argv[i] = name + '=' + ('Succeeded' if state == 'SUCCEEDED' else 'Failed')\n"
)
"""``N NAME...`` first in argv: rewrites ``--arg NAME=<PipelineTaskFinalStatus JSON>`` to our status strings
(KFP's ``SUCCEEDED`` is ``Succeeded``; ``FAILED`` and ``CANCELLED`` are ``Failed``)."""

_WHERE = (
    "def where(uri):\n"
    "    for scheme, local in (('gs://', '/gcs/'), ('s3://', '/s3/'), ('minio://', '/minio/')):\n"
    "        if uri.startswith(scheme):\n"
    "            return {'file': local + uri[len(scheme):], 'uri': uri}\n"
    "    return {'uri': uri}\n"
)
"""``where(uri)``: where the launcher put an input artifact it downloaded (``/gcs/``, ``/s3/``, ``/minio/``
and the rest of the URI), with the URI; any other URI is kept (``file://`` is read in place)."""

EXECUTOR_PRELUDE = "import json, sys; executor = json.loads(sys.argv.pop(1))\n"
"""``EXECUTOR_INPUT`` (``{{$}}``) first in argv: the executor input, for the preludes after it."""

COLLECT_PRELUDE = (
    "n = int(sys.argv.pop(1)); names = sys.argv[1:n + 1]; del sys.argv[1:n + 1]\n"
    "inputs = executor.get('inputs', {})\n" + _WHERE + "for name in names:\n"
    "    found = inputs.get('artifacts', {}).get(name, {}).get('artifacts', [])\n"
    "    records = inputs.get('parameterValues', {}).get(name + '--meta') or []\n"
    "    if len(found) != len(records):\n"
    "        sys.exit(f'{name}: {len(found)} artifacts but {len(records)} output records')\n"
    "    merged = [dict(record, **where(a['uri'])) for a, record in zip(found, records)]\n"
    "    sys.argv += ['--arg', name + '=' + json.dumps(merged)]\n"
)
"""``N NAME...`` first in argv, after :data:`EXECUTOR_PRELUDE`: for each collected input NAME, pairs the
artifacts of the artifact list NAME (each with its URI and, for ``gs://``, ``s3://`` and ``minio://``, the
launcher's local path of it under ``/gcs/``, ``/s3/``, ``/minio/``; other URIs are read from where they are,
``file://`` in place) with the records of the parameter ``NAME--meta``, in order, and passes them as
``--arg NAME=<records>`` for the runtime's ``collected`` input."""

EXECUTOR_OUTPUT = "mlopsdsl-executor-output"
"""The ``--arg`` that tells the runtime where KFP's launcher reads the executor output (no Python name can
clash with it)."""

METRICS_OUTPUT = "mlopsdsl--metrics"
"""Every step's ``system.Metrics`` output artifact: the runtime writes the points ``ml.log_metric`` logged
to its file and each metric's last value to its metadata, which the KFP UI's metrics tab shows."""
CONTEXT_RUN = "mlopsdsl-run"
CONTEXT_TASK = "mlopsdsl-task"
"""The ``--arg`` items that carry the run's and the task's names (``ml.current()``), which KFP's launcher
fills in from ``{{$.pipeline_job_name}}`` and ``{{$.pipeline_task_name}}``."""

OUTPUT_PRELUDE = f"sys.argv += ['--arg', '{EXECUTOR_OUTPUT}=' + executor['outputs']['outputFile']]\n"
"""After :data:`EXECUTOR_PRELUDE`: passes the executor output's path (``outputs.outputFile``; KFP has no
placeholder for it) to the runtime, which writes each artifact output's metadata there."""

PACK = (
    "import json, os, shutil, sys\n"
    "from urllib.parse import unquote, urlparse\n"
    "inputs = json.loads(sys.argv[1]).get('inputs', {})\n"
    + _WHERE
    + f"found = inputs.get('artifacts', {{}}).get('{PACK_INPUT}', {{}}).get('artifacts', [])\n"
    f"records = inputs.get('parameterValues', {{}}).get('{PACK_INPUT}{META}') or []\n"
    "if len(found) != len(records):\n"
    "    sys.exit(f'{len(found)} artifacts but {len(records)} output records')\n"
    "os.makedirs(sys.argv[2], exist_ok=True)\n"
    "packed = []\n"
    "for i, (artifact, record) in enumerate(zip(found, records)):\n"
    "    uri = artifact['uri']\n"
    "    source = where(uri).get('file')\n"
    "    if source is None and not uri.startswith('file://'):\n"
    "        sys.exit(f'items[{i}]: no local copy of {uri}')\n"
    "    source = source or unquote(urlparse(uri).path)\n"
    "    target = os.path.join(sys.argv[2], str(i))\n"
    "    (shutil.copytree if os.path.isdir(source) else shutil.copyfile)(source, target)\n"
    "    packed.append(dict(record, file=str(i)))\n"
    "text = json.dumps(packed, sort_keys=True)\n"
    "open(os.path.join(sys.argv[2], 'records.json'), 'w').write(text)\n"
    "os.makedirs(os.path.dirname(sys.argv[3]) or '.', exist_ok=True)\n"
    "open(sys.argv[3], 'w').write(text)\n"
)
"""``python -c PACK {{$}} PACK_PATH RECORDS_FILE``: copies the artifacts of the input list ``items`` (as the
launcher downloaded them) into the folder ``PACK_PATH``, one entry per element named by its position, and
writes their records (from ``items--meta``, each with ``file`` set to that entry) to ``RECORDS_FILE`` and,
so that the folder is never empty, to ``records.json`` inside it."""

UNPACK_PRELUDE = (
    "import json, sys; n = int(sys.argv.pop(1)); packs = sys.argv[1:3 * n + 1]; del sys.argv[1:3 * n + 1]\n"
    "for i in range(0, len(packs), 3):\n"
    "    name, root, records = packs[i], packs[i + 1], json.loads(packs[i + 2])\n"
    "    records = [records] if isinstance(records, dict) else records\n"
    "    records = [dict(r, file=root + '/' + r['file']) for r in records]\n"
    "    sys.argv += ['--arg', name + '=' + json.dumps(records)]\n"
)
"""``N (NAME PACK_PATH RECORDS)...`` first in argv: for each packed input NAME, makes the ``file`` of its
records (a list, or one record for an element) absolute under the pack's local path and passes them as
``--arg NAME=<records>`` for the runtime's ``collected`` input (an element is a list of one, selected)."""


@dataclass(frozen=True)
class InputPlan:
    """How one bound input of a step reaches it: its wire encoding and the fields to select."""

    param: ir.Param
    encoding: Encoding
    select: tuple[str | int, ...] = ()


@dataclass(frozen=True)
class Container:
    """The ``command``, ``args`` and ``image`` of an executor."""

    image: str
    command: list[str]
    args: list[str]


def _parameter(name: str) -> str:
    return f"{{{{$.inputs.parameters['{name}']}}}}"


def _artifact(name: str, attribute: str) -> str:
    return f"{{{{$.inputs.artifacts['{name}'].{attribute}}}}}"


def call_spec(
    step: ir.StepSpec,
    inputs: list[InputPlan],
    outputs: dict[str, Encoding],
    code: Any,
    marker: dict[str, Any] | None = None,
    cache: dict[str, Any] | None = None,
    pipeline: str | None = None,
    tolerant: dict[str, Any] | None = None,
) -> str:
    """The call spec of one step component, as compact JSON with KFP placeholders for paths.

    Args:
        marker: The never-retry marker (``_retry.marker_spec``), for a step whose attempts need one.
        cache: The ``cache`` section (the step's digest; with ``cache_root``, the pods' own cache).
        pipeline: The pipeline's name, for ``ml.current()``.
        tolerant: The ``tolerant`` section of an element of a tolerant map (``lowering.tolerant_section``,
            with the attempt ``counter`` when it retries).
    """
    spec_inputs: list[dict[str, Any]] = []
    for plan in inputs:
        name, enc = plan.param.name, plan.encoding
        item: dict[str, Any] = {"name": name, "kind": enc.kind}
        if enc.kind == "json":
            item["arg"] = name
            if enc.raw:
                item["raw"] = True
            if enc.float64:
                item["float64"] = True
        elif enc.is_list or enc.is_packed:
            elem = plan.param.type if enc.kind == "element" else plan.param.type.items
            kind = "artifact" if elem is not None and elem.kind == "artifact" else "object"
            item = {"name": name, "kind": "collected", "item_kind": kind, "records": {"arg": name}}
            if kind == "artifact" and elem is not None and elem.name:
                item["type"] = elem.name
        else:
            item["file"] = _artifact(name, "path")
            item["meta"] = {"arg": name + META}
        if enc.kind == "artifact":
            item["uri"] = _artifact(name, "uri")
            type_ = plan.param.type
            item["type"] = type_.name if type_.kind == "artifact" and type_.name else enc.type.split(".")[-1]
        select = [0, *plan.select] if enc.kind == "element" else list(plan.select)
        if select:
            item["select"] = select
        spec_inputs.append(item)
    spec_outputs: list[dict[str, Any]] = []
    for out in step.outputs:
        enc = outputs[out.name]
        entry: dict[str, Any] = {"name": out.name, "kind": enc.kind}
        if enc.kind == "json":
            entry["file"] = f"{{{{$.outputs.parameters['{out.name}'].output_file}}}}"
            if enc.raw:
                entry["raw"] = True
            if enc.float64:
                entry["float64"] = True
        else:
            entry["file"] = f"{{{{$.outputs.artifacts['{out.name}'].path}}}}"
            entry["meta_file"] = f"{{{{$.outputs.parameters['{out.name}{META}'].output_file}}}}"
            if enc.kind == "artifact":
                entry["float64"] = True  # its record, metadata included, is a STRUCT: doubles
            if enc.kind == "object" and out.type.name:
                entry["type"] = out.type.name  # picks the serialiser (npy, parquet...) before the class does
        spec_outputs.append(entry)
    spec = {
        "version": 1,
        "step": step.name,
        "code": code,
        "inputs": spec_inputs,
        "outputs": spec_outputs,
        "returns": step.returns.kind,
    }
    retry = step.options.retry.runtime_spec() if step.options.retry is not None else None
    if retry is not None:
        spec["retry"] = {**retry, "marker": marker} if marker is not None else retry
    # Every step writes metadata: its metrics artifact's, and its artifact outputs' (what KFP's UI shows).
    spec["executor_output"] = {"arg": EXECUTOR_OUTPUT}
    spec["metrics"] = {
        "artifact": METRICS_OUTPUT,
        "file": f"{{{{$.outputs.artifacts['{METRICS_OUTPUT}'].path}}}}",
    }
    spec["context"] = {
        "backend": "kfp",
        "pipeline": pipeline,
        "step_digest": step.digest,
        "run_id": {"arg": CONTEXT_RUN},
        "task": {"arg": CONTEXT_TASK},
    }
    if cache is not None:
        spec["cache"] = cache
    if tolerant is not None:
        spec["tolerant"] = tolerant
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def step_container(
    step: ir.StepSpec,
    inputs: list[InputPlan],
    outputs: dict[str, Encoding],
    code: Any,
    image: str,
    bundled: bool,
    marker: dict[str, Any] | None = None,
    cache: dict[str, Any] | None = None,
    pipeline: str | None = None,
    tolerant: dict[str, Any] | None = None,
) -> Container:
    """The container of a step component: the runtime, its call spec, and one ``--arg`` per parameter."""
    from mlopsdsl.runtime.bundle import BOOTSTRAP

    preludes = ""
    args: list[str] = []
    packages = list(step.options.packages)
    if packages:
        preludes += PIP_PRELUDE
        args += [str(len(packages)), *(k8s_literal(p) for p in packages)]
    statuses = [p.param.name for p in inputs if p.encoding.type == "TASK_FINAL_STATUS"]
    if statuses:
        preludes += STATUS_PRELUDE
        args += [str(len(statuses)), *statuses]
    collected = [p.param.name for p in inputs if p.encoding.is_list]
    preludes += EXECUTOR_PRELUDE
    args.append("{{$}}")
    if collected:
        preludes += COLLECT_PRELUDE
        args += [str(len(collected)), *collected]
    preludes += OUTPUT_PRELUDE
    packed = [p.param.name for p in inputs if p.encoding.is_packed]
    if packed:
        preludes += UNPACK_PRELUDE
        args.append(str(len(packed)))
        for name in packed:
            args += [name, _artifact(name, "path"), _parameter(name + META)]
    if bundled:
        command = launch_command(preludes + BOOTSTRAP)
        args.append(_artifact(RUNTIME_INPUT, "path"))
    elif preludes:
        run = "import runpy; runpy.run_module('mlopsdsl.runtime', run_name='__main__', alter_sys=True)"
        command = launch_command(preludes + run)
    else:
        command = ["python", "-m", "mlopsdsl.runtime"]
    args += ["--spec-json", call_spec(step, inputs, outputs, code, marker, cache, pipeline, tolerant)]
    args += ["--arg", f"{CONTEXT_RUN}={{{{$.pipeline_job_name}}}}"]
    args += ["--arg", f"{CONTEXT_TASK}={{{{$.pipeline_task_name}}}}"]
    for plan in inputs:
        if plan.encoding.kind == "json":
            args += ["--arg", f"{plan.param.name}={_parameter(plan.param.name)}"]
        elif not plan.encoding.is_list and not plan.encoding.is_packed:
            meta = plan.param.name + META
            args += ["--arg", f"{meta}={_parameter(meta)}"]
    return Container(image=step.options.image or image, command=command, args=args)


def pack_container(image: str) -> Container:
    """The container of a pack task: :data:`PACK` over its input list ``items``, into its output ``pack``."""
    return Container(
        image=image,
        command=["python", "-c", PACK],
        args=[
            "{{$}}",
            f"{{{{$.outputs.artifacts['{PACK_OUTPUT}'].path}}}}",
            f"{{{{$.outputs.parameters['{PACK_OUTPUT}{META}'].output_file}}}}",
        ],
    )


def runtime_container(bundle: str, image: str) -> Container:
    """The container of the ``mlopsdsl-runtime`` task, which writes the runtime bundle (base64 text,
    :func:`mlopsdsl.lowering.runtime_bundle_text`) as its artifact."""
    path = f"{{{{$.outputs.artifacts['{RUNTIME_OUTPUT}'].path}}}}"
    return Container(image=image, command=launch_command(WRITE_BUNDLE), args=[path, bundle])
