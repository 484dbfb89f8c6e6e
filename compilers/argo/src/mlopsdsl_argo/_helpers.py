"""Two tiny helper templates that control flow needs: deciding a condition, and listing a loop's elements.

Both run a short standard-library program (``python -c HELPER``) in the steps' image; no runtime bundle,
no user code.

- ``condition`` decides a ``ml.when`` condition *in Python*, on the decoded JSON values, and writes
  ``true`` or ``false``. Argo's ``when`` then only ever compares that word
  (``{{tasks.c.outputs.parameters.holds}} == true``): a user's value is never substituted into a
  govaluate expression, so a string holding quotes, operators or ``{{...}}`` cannot change what is
  decided, and comparisons mean what they mean in Python (and in the local runner) for every JSON type,
  rather than what govaluate makes of armored JSON text.
- ``items`` turns a JSON list (a pipeline parameter or a step's output, with an optional field path) into
  the list Argo's ``withParam`` iterates: a JSON list of each element's *armored JSON text*. Argo decodes
  the list and substitutes each element into ``{{item}}``; were the elements the values themselves, a string
  element would arrive as raw text (Kubernetes would expand ``$(VAR)`` in it, and its JSON encoding would be
  lost). As texts, each ``{{item}}`` is armored JSON, exactly like every other value the steps exchange, and
  the shape matches Argo's own aggregation of a loop's outputs (a list of each run's text), so a loop over
  another loop's results needs no helper.
"""

from __future__ import annotations

from typing import Any

from mlopsdsl_argo._launch import WORK
from mlopsdsl_argo._refs import Input

__all__ = ["HELPER", "condition_template", "items_template"]

HELPER = f"""\
import json, operator, os, re, sys
work = {WORK!r}
os.makedirs(work + "/outputs", exist_ok=True)
esc = {{"{{": "\\\\u007b", "}}": "\\\\u007d", "$": "\\\\u0024"}}


def escape(string):
    return re.sub(r"[{{}}$]", lambda c: esc[c.group()], string.group())


def armor(value):
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return re.sub(r'"(?:[^"\\\\]|\\\\.)*"', escape, text)


def select(value, path):
    for part in path:
        value = value[part]
    return value


def write(name, text):
    with open(work + "/outputs/" + name + ".json", "w", encoding="ascii") as f:
        f.write(text)


if sys.argv[1] == "items":
    value = select(json.loads(sys.argv[2]), json.loads(sys.argv[3]))
    if not isinstance(value, list):
        sys.exit("mlopsdsl: .map() needs a list, got " + type(value).__name__)
    write("items", armor([armor(v) for v in value]))
else:
    tree, operands = json.loads(sys.argv[2]), json.loads(sys.argv[3])
    ops = {{"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
           ">": operator.gt, ">=": operator.ge}}

    def value(node):
        return node["value"] if "value" in node else select(operands[node["ref"]], node["path"])

    def holds(node):
        if node["kind"] == "compare":
            return ops[node["op"]](value(node["left"]), value(node["right"]))
        if node["kind"] == "not":
            return not holds(node["condition"])
        parts = (holds(c) for c in node["conditions"])
        return all(parts) if node["kind"] == "all" else any(parts)

    write("holds", "true" if holds(tree) else "false")
"""
"""The helper program: ``items VALUE PATH`` or ``condition TREE OPERANDS`` (all armored JSON)."""


def _template(name: str, mode: str, inputs: tuple[str, str], output: str, image: str, security: Any) -> Any:
    container: dict[str, Any] = {
        "image": image,
        "command": ["python", "-c", HELPER],
        "args": [mode, *(Input(i).render() for i in inputs)],
    }
    if security is not None:
        container["securityContext"] = security
    return {
        "name": name,
        "inputs": {"parameters": [{"name": i} for i in inputs]},
        "outputs": {"parameters": [{"name": output, "valueFrom": {"path": f"{WORK}/outputs/{output}.json"}}]},
        "container": container,
    }


def condition_template(name: str, image: str, security: Any) -> dict[str, Any]:
    """The template deciding a condition: inputs ``condition`` (the tree, operands as ``{"ref": i, "path":
    [...]}``, literals as ``{"value": v}``) and ``operands`` (a JSON list of the referenced values); output
    ``holds``."""
    return _template(name, "condition", ("condition", "operands"), "holds", image, security)  # type: ignore[no-any-return]


def items_template(name: str, image: str, security: Any) -> dict[str, Any]:
    """The template listing a loop's elements: inputs ``value`` and ``path``; output ``items``."""
    return _template(name, "items", ("value", "path"), "items", image, security)  # type: ignore[no-any-return]
