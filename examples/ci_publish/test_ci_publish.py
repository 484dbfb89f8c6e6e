"""The CI script end to end, against the stand-in KFP and Argo servers of the compilers' own tests: the first
push publishes, an unchanged push publishes nothing, a changed pipeline publishes a new version, an invalid
one publishes nothing anywhere."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parent.parent.parent
SCRIPT = Path(__file__).parent / "scripts" / "publish.py"
WORKFLOW = Path(__file__).parent / ".github" / "workflows" / "publish-pipelines.yml"
TOKEN = "ci-publish-test-token"
for tests in ("kfp", "argo"):  # the stand-in servers live with each compiler's tests
    sys.path.insert(0, str(ROOT / "compilers" / tests / "tests"))

from argo_server import argo_server  # noqa: E402
from kfp_server import StandInServer  # noqa: E402


class Servers:
    def __init__(self, kfp: StandInServer, argo_url: str, argo_state: Any) -> None:
        self.kfp, self.argo_url, self.argo = kfp, argo_url, argo_state

    def kfp_versions(self) -> list[str]:
        return [v["display_name"] for versions in self.kfp.state.versions.values() for v in versions]

    def argo_templates(self) -> dict[str, str]:
        """Name -> resourceVersion of every WorkflowTemplate: a new version means it was written."""
        return {
            name: obj["metadata"]["resourceVersion"]
            for (kind, _, name), obj in self.argo.objects.items()
            if kind == "WorkflowTemplate"
        }

    def argo_writes(self) -> int:
        return sum(1 for method, _, _ in self.argo.requests if method in ("POST", "PUT"))


@pytest.fixture
def servers() -> Iterator[Servers]:
    kfp = StandInServer(token=TOKEN)
    try:
        with argo_server(token=TOKEN) as (url, state):
            yield Servers(kfp, url, state)
    finally:
        kfp.close()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one pipeline to publish (a copy, so the test can change it)."""
    (tmp_path / "pipelines").mkdir()
    shutil.copy(ROOT / "examples" / "quickstart.py", tmp_path / "pipelines" / "line_fit.py")
    return tmp_path


def publish(repo: Path, servers: Servers, *targets: str) -> subprocess.CompletedProcess[str]:
    args = ["--published", ".published", "--kfp-host", servers.kfp.url, "--argo-host", servers.argo_url]
    return subprocess.run(
        [sys.executable, str(SCRIPT), *(targets or ["pipelines/line_fit.py"]), *args, "--namespace", "ml"],
        capture_output=True, text=True, cwd=repo, timeout=600,
        env={**__import__("os").environ, "MLOPSDSL_TOKEN": TOKEN},
    )  # fmt: skip


def test_publishes_on_change_only(repo: Path, servers: Servers) -> None:
    first = publish(repo, servers)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "published 2 of 2" in first.stdout
    assert servers.kfp_versions() == ["quickstart"]
    assert list(servers.argo_templates()) == ["quickstart"]
    assert sorted(p.name for p in (repo / ".published").iterdir()) == [
        "pipelines.line_fit.argo.yaml",
        "pipelines.line_fit.kfp.yaml",
    ]

    writes, templates = servers.argo_writes(), servers.argo_templates()
    unchanged = publish(repo, servers)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert unchanged.stdout.count("unchanged since the last publish: nothing sent") == 2
    assert "published 0 of 2" in unchanged.stdout
    assert servers.kfp_versions() == ["quickstart"]
    assert servers.argo_writes() == writes and servers.argo_templates() == templates

    shutil.rmtree(repo / ".published")  # a fresh CI runner without its cache: the servers still say no
    again = publish(repo, servers)
    assert again.returncode == 0 and "published 0 of 2" in again.stdout, again.stdout + again.stderr
    assert servers.kfp_versions() == ["quickstart"] and servers.argo_writes() == writes

    source = repo / "pipelines" / "line_fit.py"
    source.write_text(source.read_text().replace("{slope:.2f}", "{slope:.3f}"))
    changed = publish(repo, servers)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "published 2 of 2" in changed.stdout
    assert '-    return f"y = {slope:.2f}x' in changed.stdout or "lines of difference" in changed.stdout
    assert len(servers.kfp_versions()) == 2
    assert servers.argo_templates()["quickstart"] != templates["quickstart"]


def test_an_invalid_pipeline_publishes_nothing(repo: Path, servers: Servers) -> None:
    (repo / "pipelines" / "broken.py").write_text(
        "import mlopsdsl as ml\n\n@ml.step\ndef one(x: int) -> int:\n    return x\n\n"
        "@ml.pipeline\ndef broken(x: int = 1) -> int:\n    return one(x=str(x))\n"
    )
    result = publish(repo, servers, "pipelines/line_fit.py", "pipelines/broken.py")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "broken.py:9:" in result.stderr and "nothing was published" in result.stderr
    assert servers.kfp_versions() == [] and servers.argo_writes() == 0
    assert not (repo / ".published").exists()


def test_workflow_calls_the_script() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["publish"]["steps"]
    run = next(step["run"] for step in steps if "publish.py" in step.get("run", ""))
    assert "examples/ci_publish/scripts/publish.py" in run and "--published .published" in run
    for target in ("pytorch_training", "tabular_sklearn", "sweep"):
        assert (
            ROOT / "examples" / target / "pipeline.py"
        ).is_file() and f"examples/{target}/pipeline.py" in run
    cached = [step["with"]["path"] for step in steps if "cache" in step.get("uses", "")]
    assert cached == [".published", ".published"]  # restored before, saved after
