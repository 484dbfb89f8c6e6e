"""Seals on records: a digest that catches damage, and with a store key, a signature that catches forgery.

A sealed record is a JSON object with a ``seal`` field: ``{"sha256": D}``, the sha256 of the record
without its seal as canonical JSON (sorted keys, no spaces), and, when a store key is set, ``{"hmac": H}``
too, the HMAC-SHA256 of the same bytes under the key. The digest protects against accidents (a torn or
edited file, a flipped bit); anyone who can write the file can also recompute it. The HMAC protects
against someone who can write to the store but does not hold the key: with a key set, a record that is
unsigned or whose signature does not match is refused. Neither says anything about a writer who holds
the key. Cache entries and run records are sealed, and since they hold the sha256 of every stored value
they name, a sealed record also vouches for those bytes.

The key comes from ``MLOPSDSL_STORE_KEY`` or ``store_key`` in ``<home>/config.toml`` (the local runner),
and from ``MLOPSDSL_STORE_KEY`` in a pod. Standard library only.
"""

from __future__ import annotations

import json
import os

from ._io import IntegrityError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ENV_KEY = "MLOPSDSL_STORE_KEY"


def env_key() -> bytes | None:
    """The store key from the environment, or ``None`` when none is set."""
    text = os.environ.get(ENV_KEY)
    return text.encode() if text else None


def _canonical(record: dict[str, Any]) -> bytes:
    body = {k: v for k, v in record.items() if k != "seal"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal(record: dict[str, Any], key: bytes | None) -> dict[str, Any]:
    """``record`` with its seal (a digest, and a signature under ``key`` when there is one)."""
    import hashlib
    import hmac

    data = _canonical(record)
    mark: dict[str, str] = {"sha256": hashlib.sha256(data).hexdigest()}
    if key is not None:
        mark["hmac"] = hmac.new(key, data, hashlib.sha256).hexdigest()
    return {**{k: v for k, v in record.items() if k != "seal"}, "seal": mark}


def sealed_json(record: dict[str, Any], key: bytes | None) -> str:
    """``seal(record, key)`` as JSON text, for a record written often (step records, cache entries).

    The text is the canonical bytes the seal covers with the seal appended as the last member, so the
    record is encoded once, by the C encoder (an indented dump runs the pure-Python one, and was most of
    the runner's cost per in-process step); :func:`check` reads it like any sealed record.
    """
    import hashlib
    import hmac

    data = _canonical(record)
    mark: dict[str, str] = {"sha256": hashlib.sha256(data).hexdigest()}
    if key is not None:
        mark["hmac"] = hmac.new(key, data, hashlib.sha256).hexdigest()
    text = data.decode()
    seal_text = '"seal":' + json.dumps(mark, sort_keys=True, separators=(",", ":"))
    return f"{text[:-1]},{seal_text}}}" if text != "{}" else f"{{{seal_text}}}"


def check(record: Any, key: bytes | None, what: str, required: bool = True) -> dict[str, Any]:
    """``record`` without its seal, once the seal holds.

    Args:
        record: A decoded JSON value.
        key: The store key; with one, the record must be signed with it.
        what: What the record is, for messages (a path or URI).
        required: Without a key, whether a record with no seal at all is refused (cache entries: yes;
            run records written before seals existed: no).

    Raises:
        IntegrityError: The record is not an object, has no seal when one is required, or does not
            match it.
    """
    import hashlib
    import hmac

    if not isinstance(record, dict):
        raise IntegrityError(f"{what} is not a JSON object")
    mark = record.get("seal")
    body = {k: v for k, v in record.items() if k != "seal"}
    if not isinstance(mark, dict):
        if key is not None:
            raise IntegrityError(f"{what} is not signed, and a store key is set: refused")
        if required:
            raise IntegrityError(f"{what} has no seal (digest): refused")
        return body
    data = _canonical(body)
    if mark.get("sha256") != hashlib.sha256(data).hexdigest():
        raise IntegrityError(f"{what} does not match its recorded sha256: it was changed or damaged")
    if key is not None:
        signature = mark.get("hmac")
        if not isinstance(signature, str):
            raise IntegrityError(f"{what} is not signed, and a store key is set: refused")
        if not hmac.compare_digest(signature, hmac.new(key, data, hashlib.sha256).hexdigest()):
            raise IntegrityError(f"{what} has a signature that does not match the store key: refused")
    return body
