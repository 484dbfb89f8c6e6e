"""mkdocs hooks of the documentation site: pages made at build time from the repository itself.

- ``index.md`` is the README, its links to ``docs/`` made relative to the site, so the two cannot differ.
- ``img/<example>.svg`` is the DAG of each example pipeline (``examples/*/pipeline.py``), drawn by the same
  renderer as ``mlopsdsl graph --format svg``, so a picture in the docs is never older than its pipeline.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).parent.parent


def example_pictures() -> dict[str, str]:
    """``{"img/<example>.svg": svg}`` for every example package with a ``pipeline.py``."""
    from mlopsdsl import graph
    from mlopsdsl._target import load_pipeline

    pictures = {}
    for module in sorted((ROOT / "examples").glob("*/pipeline.py")):
        pipeline = load_pipeline(str(module))
        pictures[f"img/{module.parent.name}.svg"] = graph.render(pipeline.build(), "svg")
    return pictures


def home_page() -> str:
    """The README, its links made to work on the site: into ``docs/`` relative to the site, an example's
    picture to the one drawn at build time, an example's README to the site's examples page."""
    text = (ROOT / "README.md").read_text()
    text = re.sub(r"\]\(docs/", "](", text)
    text = re.sub(r"\]\(examples/(\w+)/pipeline\.svg\)", r"](img/\1.svg)", text)
    return re.sub(r"\]\(examples/(\w+)/README\.md\)", r"](examples.md)", text)


def on_files(files: Files, config: Any) -> Files:
    generated = {"index.md": home_page(), **example_pictures()}
    for path, content in generated.items():
        files.append(File.generated(config, path, content=content))
    return files
