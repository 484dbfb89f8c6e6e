"""What runs in a step's pod: the launcher program, the call spec, and the container's command line.

Every step container runs the same small launcher with the image's own Python (``python -c LAUNCHER``),
never a shell. The launcher

1. writes the runtime bundle, which arrives base64-encoded in the ``MLOPSDSL_RUNTIME`` environment
   variable (one workflow parameter, so it is in the manifest once), to a zip file and puts it on
   ``sys.path``;
2. for steps that declare ``packages``, runs ``pip install --target`` into a private folder first;
3. runs the step runtime (``mlopsdsl.runtime.main``) with the call spec and the ``--arg NAME=TEXT`` items
   Argo substituted;
4. writes each JSON output from the runtime's result record to ``outputs/NAME.json`` as armored JSON
   (see :mod:`mlopsdsl_argo._values`), where the template's output parameters read it (``valueFrom.path``).

Inputs arrive as armored JSON too, so a step's value never holds ``{{``, ``$`` or non-ASCII text on its way
through Argo or Kubernetes, and ``json.loads`` restores it exactly.
"""

from __future__ import annotations

from typing import Any

from mlopsdsl import ir
from mlopsdsl_argo._values import armor

__all__ = [
    "LAUNCHER",
    "RUNTIME_ENV",
    "WORK",
    "call_spec",
    "container_args",
    "input_path",
    "output_path",
]

WORK = "/tmp/mlopsdsl"
"""The launcher's folder in the pod: bundle, result record, inputs and outputs."""
RUNTIME_ENV = "MLOPSDSL_RUNTIME"
PACKAGES_ENV = "MLOPSDSL_PACKAGES"

LAUNCHER = f"""\
import base64, json, os, re, sys
work = {WORK!r}
os.makedirs(work + "/outputs", exist_ok=True)
bundle = work + "/runtime.zip"
with open(bundle, "wb") as f:
    f.write(base64.b64decode(os.environ["{RUNTIME_ENV}"]))
packages = json.loads(os.environ.get("{PACKAGES_ENV}", "[]"))
if packages:
    import subprocess
    pip = [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check"]
    if subprocess.run([*pip, "--target", work + "/site", *packages]).returncode:
        sys.exit("mlopsdsl: pip install failed: " + " ".join(packages))
    sys.path.insert(0, work + "/site")
sys.path.insert(0, bundle)
from mlopsdsl.runtime import main
status = main(sys.argv[1:])
if status == 0:
    with open(work + "/result.json", encoding="utf-8") as f:
        record = json.load(f)
    esc = {{"{{": "\\\\u007b", "}}": "\\\\u007d", "$": "\\\\u0024"}}

    def armor(string):
        return re.sub(r"[{{}}$]", lambda c: esc[c.group()], string.group())

    for name, out in record["outputs"].items():
        if out["kind"] == "json":
            text = json.dumps(out["value"], sort_keys=True, separators=(",", ":"))
            text = re.sub(r'"(?:[^"\\\\]|\\\\.)*"', armor, text)
            with open(work + "/outputs/" + name + ".json", "w", encoding="ascii") as f:
                f.write(text)
sys.exit(status)
"""
"""The program every step container runs (``python -c LAUNCHER --spec-json SPEC --arg ...``)."""


def input_path(name: str) -> str:
    """Where a stored input (object or artifact) is placed in the pod."""
    return f"{WORK}/inputs/{name}"


def output_path(name: str, stored: bool) -> str:
    """Where an output is written in the pod: the stored bytes, or the armored JSON of a value."""
    return f"{WORK}/outputs/{name}" if stored else f"{WORK}/outputs/{name}.json"


def needs_convert(type_: ir.TypeSpec) -> bool:
    """True when the JSON value must be rebuilt from the function's annotation (enum, dataclass, model)."""
    if type_.kind in ("model", "dataclass") or (type_.kind == "enum" and type_.name):
        return True
    return type_.items is not None and needs_convert(type_.items)


def stored_kind(type_: ir.TypeSpec) -> str | None:
    """``object`` or ``artifact`` for values passed through the artifact repository, else ``None``."""
    inner = type_.items if type_.kind == "optional" and type_.items is not None else type_
    return inner.kind if inner.kind in ("object", "artifact") else None


def call_spec(
    step: ir.StepSpec, code: dict[str, Any], inputs: list[tuple[ir.Param, str, list[str | int]]]
) -> dict[str, Any]:
    """The runtime's call spec for one template of ``step``.

    Args:
        step: The step.
        code: The ``code`` part (by value or by import).
        inputs: The inputs this template passes: each parameter, ``"json"`` or ``"stored"``, and the
            field path to select from the value.
    """
    items: list[dict[str, Any]] = []
    for param, source, path in inputs:
        item: dict[str, Any] = {"name": param.name}
        kind = stored_kind(param.type)
        if source == "stored" and kind is not None:
            item.update(kind=kind, file=input_path(param.name))
            if kind == "artifact":
                item["type"] = (param.type.items or param.type).name or "Artifact"
        else:
            item.update(kind="json", arg=param.name)
        if path:
            item["select"] = path
        if needs_convert(param.type):
            item["convert"] = True
        items.append(item)
    outputs: list[dict[str, Any]] = []
    for out in step.outputs:
        kind = stored_kind(out.type)
        entry: dict[str, Any] = {"name": out.name, "kind": kind or "json"}
        if kind is not None:
            entry["file"] = output_path(out.name, stored=True)
        outputs.append(entry)
    return {
        "version": 1,
        "step": step.name,
        "code": code,
        "inputs": items,
        "outputs": outputs,
        "returns": step.returns.kind,
        "result": f"{WORK}/result.json",
    }


def container_args(spec: dict[str, Any], json_inputs: list[str]) -> list[str]:
    """The container's ``args``: the armored call spec, then one ``--arg NAME=VALUE`` pair per JSON input.

    Each value is a separate argv item holding exactly what Argo substitutes, so no shell and no quoting
    is involved anywhere.
    """
    args = ["--spec-json", armor(spec)]
    for name in json_inputs:
        args += ["--arg", f"{name}={{{{inputs.parameters.{name}}}}}"]
    return args
