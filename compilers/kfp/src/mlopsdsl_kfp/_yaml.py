"""Writing and reading the pipeline package: one or two YAML documents, byte-identical for the same IR.

The protobuf messages are turned into the dicts ``json_format.MessageToDict`` would give (camelCase field
names, as kfp writes them) and dumped as block YAML with sorted keys, no timestamps and no versions, so
golden files need no normalising (``_emit.py`` does both, fast). The second document, present only
when a step has Kubernetes settings, is the ``PlatformSpec`` that kfp-kubernetes would write.
"""

from __future__ import annotations

from typing import Any

from ._emit import message_to_dict, to_yaml
from ._lower import Lowered

__all__ = ["dump", "load_documents"]


def dump(lowered: Lowered, digest: str) -> str:
    """The pipeline package text: a comment header, the PipelineSpec, and the PlatformSpec if any."""
    pipeline = message_to_dict(lowered.pipeline)
    name = pipeline["pipelineInfo"]["name"]
    header = f"# PIPELINE DEFINITION\n# Name: {name}\n# Compiled by mlopsdsl-kfp from IR sha256:{digest}\n"
    text = header + _dump(pipeline)
    if lowered.platform:
        from ._protos import pipeline_spec

        platform = pipeline_spec().PlatformSpec()
        executors = platform.platforms["kubernetes"].deployment_spec.executors
        for executor, config in sorted(lowered.platform.items()):
            executors[executor].update(config)
        text += "---\n" + _dump(message_to_dict(platform))
    return text


def _dump(data: dict[str, Any]) -> str:
    return to_yaml(data)


def load_documents(text: str) -> list[Any]:
    """Every YAML document in ``text``."""
    import yaml  # here, not at the top: compiling writes YAML itself and need not import PyYAML

    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return list(yaml.load_all(text, Loader=loader))
