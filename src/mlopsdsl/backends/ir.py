"""The ``ir`` backend: the validated IR itself, as canonical JSON."""

from __future__ import annotations

from mlopsdsl import ir


class IRBackend:
    """Writes the IR document as canonical JSON (sorted keys, byte-identical for the same source)."""

    name = "ir"
    file_suffix = ".json"

    def compile(self, document: ir.Document) -> str:
        return document.to_json()
