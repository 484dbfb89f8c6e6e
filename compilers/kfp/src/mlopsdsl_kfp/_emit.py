"""Fast, deterministic serialisation of the compiled messages: protobuf to JSON dicts to block YAML.

``json_format.MessageToDict`` and PyYAML's emitter are generic and slow (together about 0.4 s for a
1,000-task pipeline, most of the compile time). The documents here are simple: messages, maps, repeated
fields, strings, numbers, booleans and a few well-known types. :func:`message_to_dict` walks the message
with ``ListFields`` and gives exactly what ``MessageToDict`` gives (proto3 JSON: camelCase names, int64 as
strings, enums by name); :func:`to_yaml` writes block-style YAML with sorted keys, plain scalars where
YAML reads them back unchanged and JSON-quoted strings elsewhere (a JSON string is a valid YAML
double-quoted scalar). Tests check both against the generic implementations.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["message_to_dict", "to_yaml"]

_WELL_KNOWN = {
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.ListValue",
    "google.protobuf.Duration",
    "google.protobuf.Timestamp",
    "google.protobuf.Any",
}
_INT64 = {3, 4, 6, 16, 18}  # FieldDescriptor types whose proto3 JSON form is a string


def message_to_dict(message: Any) -> dict[str, Any]:
    """``json_format.MessageToDict(message)``, faster for the messages this compiler builds (and without
    importing ``json_format``, ~10 ms of a cold compile, unless a well-known type needs it)."""
    if message.DESCRIPTOR.full_name in _WELL_KNOWN:
        from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]

        result: dict[str, Any] = json_format.MessageToDict(message)
        return result
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        out[field.json_name] = _field(field, value)
    return out


def _field(field: Any, value: Any) -> Any:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        value_field = message_type.fields_by_name["value"]
        return {str(k): _single(value_field, v) for k, v in value.items()}
    if field.is_repeated if hasattr(field, "is_repeated") else field.label == 3:
        return [_single(field, v) for v in value]
    return _single(field, value)


def _single(field: Any, value: Any) -> Any:
    if field.message_type is not None:
        from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]

        if field.message_type.full_name in _WELL_KNOWN:
            return json_format.MessageToDict(value)
        return message_to_dict(value)
    if field.enum_type is not None:
        number = field.enum_type.values_by_number.get(value)
        return number.name if number is not None else value
    if field.type in _INT64:
        return str(value)
    if field.type == 12:  # bytes
        import base64

        return base64.b64encode(value).decode()
    return value


_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*$")
_RESERVED = {
    "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~",
}  # fmt: skip


_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")
"""Characters YAML reads as line breaks (NEL, LS, PS: a reader folds the spaces around them) or will not
take as they are; inside double quotes they are written as ``\\uXXXX``."""


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        if _PLAIN.match(value) and value.lower() not in _RESERVED:
            return value
        text = json.dumps(value, ensure_ascii=False)
        return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        # YAML 1.1 reads ``1e+23`` as a string: a float needs a dot in its mantissa.
        mantissa, e, exponent = text.partition("e")
        return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text
    return str(value)


def to_yaml(data: dict[str, Any]) -> str:
    """Block-style YAML for a JSON-like dict, keys sorted; ``yaml.safe_load`` reads back ``data``."""
    lines: list[str] = []
    _mapping(data, "", lines)
    return "\n".join(lines) + "\n"


def _mapping(data: dict[str, Any], indent: str, lines: list[str]) -> None:
    for key in sorted(data):
        value = data[key]
        head = f"{indent}{_scalar(key)}:"
        if isinstance(value, dict) and value:
            lines.append(head)
            _mapping(value, indent + "  ", lines)
        elif isinstance(value, list) and value:
            lines.append(head)
            _sequence(value, indent, lines)
        else:
            lines.append(f"{head} {_empty(value)}")


def _sequence(items: list[Any], indent: str, lines: list[str]) -> None:
    for item in items:
        if isinstance(item, dict) and item:
            sub: list[str] = []
            _mapping(item, indent + "  ", sub)
            sub[0] = f"{indent}- {sub[0][len(indent) + 2 :]}"
            lines.extend(sub)
        elif isinstance(item, list) and item:
            lines.append(f"{indent}-")
            _sequence(item, indent + "  ", lines)
        else:
            lines.append(f"{indent}- {_empty(item)}")


def _empty(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)
