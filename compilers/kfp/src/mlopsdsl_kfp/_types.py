"""How IR types travel through Kubeflow Pipelines: KFP parameter types, artifact schemas, and text.

KFP renders a parameter into a command line by the *value's* kind: a string as its own text, anything else
as JSON text. So a ``str`` input reads its argument raw (``raw: true`` in the call spec) and every other
JSON input parses it. Types KFP cannot name (``Optional``, ``Any``, mixed enums) travel as a ``STRING``
holding JSON text, which parses the same way. ``artifact`` values are KFP artifacts with their schema title
(``system.Dataset``); ``object`` values (pickled Python objects) are ``system.Artifact`` files.

KFP holds every number of a ``NUMBER_*``, ``LIST`` or ``STRUCT`` value as a protobuf ``double`` and prints a
whole one without ``.0``: ``1.0`` reaches the command line as ``1``, and ``99999999999999999999999`` as
``100000000000000000000000``. The step runtime rebuilds each input by the function's annotation, so the
float is a float again; an int beyond ±(2**53 - 1) cannot be had back, so such values are marked
``float64`` in the call spec and the runtime refuses them, as the compiler refuses such defaults and
constants and ``submit`` such parameters (:meth:`Encoding.float64`).

An :class:`Encoding` is what one value looks like on the wire; a consumer declares the encoding of what it
is bound to, so both ends of an edge always agree (see ``_lower.py``).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass

__all__ = [
    "ARTIFACT_SCHEMA_VERSION",
    "ELEMENT",
    "META",
    "PACKED",
    "Encoding",
    "encode_value",
    "encoding_of",
]

ARTIFACT_SCHEMA_VERSION = "0.0.1"
_SCHEMAS = ("Artifact", "Dataset", "Model", "Markdown", "HTML", "ClassificationMetrics")
"""mlopsdsl's artifact kinds, each KFP's ``system.<name>`` schema (kfp.dsl's artifact types)."""

Kind = Literal["json", "object", "artifact", "objects", "artifacts", "packed", "element"]
"""``objects``/``artifacts``: the collected outputs of a loop, a KFP artifact list (see ``_lower.py``).
``packed``: such a list copied into one artifact, a folder, to enter a sub-DAG (``_wiring.py``); ``element``:
one element of a packed list, for a loop that runs over it."""

META = "--meta"
"""Suffix of the parameter that goes with every stored value: the producer's output record (digest, format,
metadata), which the consumer's runtime reads through ``meta`` (or ``records`` for a collected list)."""


@dataclass(frozen=True, order=True)
class Encoding:
    """One value on the wire.

    ``type`` is a KFP parameter type (``NUMBER_DOUBLE``) for ``json`` values, a schema title
    (``system.Dataset``) for ``object`` and ``artifact`` values. ``raw`` marks a ``STRING`` that is the
    value itself rather than JSON text.
    """

    kind: Kind
    type: str
    raw: bool = False

    @property
    def is_parameter(self) -> bool:
        """True for values KFP passes by value (parameters), False for artifacts."""
        return self.kind == "json"

    @property
    def is_list(self) -> bool:
        """True for a collected list of stored values (a KFP artifact list with a list of records)."""
        return self.kind in ("objects", "artifacts")

    @property
    def float64(self) -> bool:
        """True when the value's numbers travel as doubles (``NUMBER_*``, ``LIST``, ``STRUCT``)."""
        return self.kind == "json" and self.type in _DOUBLES

    @property
    def is_packed(self) -> bool:
        """True for a list of stored values, or one of them, inside a pack (one artifact, a folder)."""
        return self.kind in ("packed", "element")


PACKED = Encoding("packed", "system.Artifact")
"""A collected list of stored values as one artifact (a folder, one entry per element) and a ``LIST`` of
the elements' records, each ``file`` relative to the folder."""
ELEMENT = Encoding("element", "system.Artifact")
"""One element of a packed list: the pack, and the element's record (a ``STRUCT``)."""

_SCALARS = {"int": "NUMBER_INTEGER", "float": "NUMBER_DOUBLE", "bool": "BOOLEAN"}
_DOUBLES = ("NUMBER_INTEGER", "NUMBER_DOUBLE", "LIST", "STRUCT")
_JSON_TEXT = Encoding("json", "STRING")


def encoding_of(type_: ir.TypeSpec) -> Encoding:
    """The encoding a value of ``type_`` has when nothing upstream decides otherwise."""
    if type_.kind == "optional" and type_.items is not None and type_.is_stored:
        # Stored, maybe missing (the IR's one answer, ``TypeSpec.is_stored``): an artifact, never JSON text.
        return encoding_of(type_.items)
    kind = type_.kind
    if kind == "str":
        return Encoding("json", "STRING", raw=True)
    if kind in _SCALARS:
        return Encoding("json", _SCALARS[kind])
    if kind == "list":
        return Encoding("json", "LIST")
    if kind in ("dict", "model", "dataclass"):
        return Encoding("json", "STRUCT")
    if kind == "enum":
        values = type_.values or []
        if values and all(isinstance(v, str) for v in values):
            return Encoding("json", "STRING", raw=True)
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return Encoding("json", "NUMBER_INTEGER")
        return _JSON_TEXT
    if kind == "artifact":
        name = type_.name if type_.name in _SCHEMAS else "Artifact"
        return Encoding("artifact", f"system.{name}")
    if kind == "object":
        return Encoding("object", "system.Artifact")
    return _JSON_TEXT  # optional, json (Any), null


def encode_value(value: Any, encoding: Encoding) -> Any:
    """``value`` as KFP holds it for ``encoding``: JSON text for ``STRING`` that is not raw."""
    if encoding.type == "STRING" and not (encoding.raw and isinstance(value, str)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if encoding.type == "NUMBER_DOUBLE" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
