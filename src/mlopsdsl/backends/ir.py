"""The ``ir`` backend: the validated IR itself, as canonical JSON."""

from __future__ import annotations

from typing import Any

from mlopsdsl import ir
from mlopsdsl.errors import CompileError


class IRBackend:
    """Writes the IR document as canonical JSON (sorted keys, byte-identical for the same source)."""

    name = "ir"
    file_suffix = ".json"
    images = False
    """The IR runs nowhere, so no step image is checked (``backends.compile_document``)."""

    def compile(self, document: ir.Document, **options: Any) -> str:
        options.pop("functions", None)  # the IR names code; it does not ship it
        if options:
            raise CompileError(
                f"takes no options, got {', '.join(sorted(options))}",
                backend=self.name,
                location=document.pipeline.location,
            )
        return document.to_json()
