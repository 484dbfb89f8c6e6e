"""The notebook runs headless, top to bottom, in a real Jupyter kernel: it draws its DAG, runs, and writes
documents that the emulators run."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from mlopsdsl import backends

NOTEBOOK = Path(__file__).parent / "pipeline.ipynb"


def outputs(cell: nbformat.NotebookNode) -> str:
    """Everything a cell showed, as text: streams and every representation of displayed values."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.extend(str(value) for value in output.get("data", {}).values())
    return "\n".join(parts)


def test_notebook_runs_headless(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    shown = {cell.id: outputs(cell) for cell in notebook.cells if cell.cell_type == "code"}
    assert "<svg" in shown["cell-3"] and "train_and_score" in shown["cell-3"]  # the DAG, drawn inline
    assert "best accuracy: 0.9" in shown["cell-4"]
    for backend in ("kfp", "argo"):
        assert f"{backend} " in shown["cell-5"] and (tmp_path / f"iris_forest.{backend}.yaml").is_file()
        chosen = backends.load(backend)  # what the notebook wrote passes the backend's own checks
        assert isinstance(chosen, backends.Validates)
        assert chosen.validate_compiled((tmp_path / f"iris_forest.{backend}.yaml").read_text()) == []


def test_committed_notebook_has_no_outputs() -> None:
    """Outputs are made by running it; committing them would make every run a diff."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    assert all(
        not cell.get("outputs") and cell.get("execution_count") is None
        for cell in cells
        if cell["cell_type"] == "code"
    )
