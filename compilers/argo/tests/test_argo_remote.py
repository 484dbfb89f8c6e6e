"""Submitting and publishing through the real ``argo-workflows`` client, against a stand-in Argo Server
that the tests start on 127.0.0.1 and that validates what it receives with hera's strict models."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import argo_pipelines as pipes
import pytest
import yaml
from argo_server import State, argo_server
from mlopsdsl_argo import ArgoBackend
from typer.testing import CliRunner

from mlopsdsl.backends import RemoteOptions
from mlopsdsl.cli import app
from mlopsdsl.errors import RemoteError

TOKEN = "s3cr3t-t0ken-value"
PIPES = str(Path(pipes.__file__))


@pytest.fixture
def server() -> Iterator[tuple[str, State]]:
    with argo_server(token=TOKEN) as running:
        yield running


def fast() -> ArgoBackend:
    return ArgoBackend(poll_interval=0.01)


def options(url: str, **extra: object) -> RemoteOptions:
    return RemoteOptions(host=url, token=TOKEN, namespace="ml", **extra)  # type: ignore[arg-type]


def test_submit_creates_a_workflow_with_armored_values(server: tuple[str, State]) -> None:
    url, state = server
    result = fast().submit(pipes.chain.build(), options(url, params={"start": "{{x}} $(y)"}))
    assert result.run_id == "chain-x0001" and result.status == "Pending" and result.succeeded is None
    assert result.url == f"{url}/workflows/ml/chain-x0001"
    stored = state.objects[("Workflow", "ml", "chain-x0001")]
    params = {p["name"]: p["value"] for p in stored["spec"]["arguments"]["parameters"]}
    assert json.loads(params["start"]) == "{{x}} $(y)" and "{{" not in params["start"]
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" for _, _, h in state.requests)


def test_cli_submit_no_cache_makes_the_pods_reuse_nothing(
    server: tuple[str, State], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = server
    monkeypatch.setenv("MLOPSDSL_TOKEN", TOKEN)
    args = ["submit", f"{PIPES}:chain", "--backend", "argo", "--server", url, "-n", "ml", "-p", "start=go",
            "-O", "cache_root=s3://bucket/cache", "--no-cache"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (stored,) = [o for (kind, _, _), o in state.objects.items() if kind == "Workflow"]
    containers = [t["container"] for t in stored["spec"]["templates"] if "container" in t]
    specs = [json.loads(c["args"][c["args"].index("--spec-json") + 1]) for c in containers]
    assert specs and all(s["cache"] == {"read": False, "step": s["cache"]["step"], "store": "s3://bucket/cache"}
                         for s in specs)  # fmt: skip


@pytest.mark.parametrize(("phase", "ok"), [("Succeeded", True), ("Failed", False), ("Error", False)])
def test_submit_wait_follows_the_workflow_to_its_end(server: tuple[str, State], phase: str, ok: bool) -> None:
    url, state = server
    state.final_phase = phase
    result = fast().submit(pipes.chain.build(), options(url, wait=True))
    assert (result.status, result.succeeded) == (phase, ok)
    assert state.gets[result.run_id] == 2  # Running, then the end


def test_cli_submit_wait_exit_codes_and_the_token_is_never_printed(
    server: tuple[str, State], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = server
    monkeypatch.setattr(
        ArgoBackend, "__init__", lambda self, poll_interval=0.01: setattr(self, "poll_interval", 0.01)
    )
    monkeypatch.setenv("MLOPSDSL_TOKEN", TOKEN)
    runner = CliRunner()
    args = [
        "submit",
        f"{PIPES}:chain",
        "--backend",
        "argo",
        "--server",
        url,
        "-n",
        "ml",
        "-p",
        "start=go",
        "--wait",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Succeeded" in result.output and TOKEN not in result.output
    state.final_phase = "Failed"
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "ended Failed" in result.output and TOKEN not in result.output
    monkeypatch.setenv("MLOPSDSL_TOKEN", "wrong-token-value")
    result = runner.invoke(app, args)
    assert result.exit_code == 4, result.output
    assert (
        "401" in result.output
        and "token not valid" in result.output
        and "wrong-token-value" not in result.output
    )


def test_server_errors_are_remote_errors(server: tuple[str, State]) -> None:
    url, _ = server
    with pytest.raises(RemoteError, match="401 Unauthorized: token not valid") as info:
        fast().submit(pipes.chain.build(), RemoteOptions(host=url, token="nope-nope", namespace="ml"))
    assert info.value.status == 401 and "nope-nope" not in str(info.value)
    with pytest.raises(RemoteError, match="404") as info:
        fast().submit(pipes.chain.build(), options(url + "/missing"))
    assert info.value.status == 404
    backend = fast()
    backend.submit(pipes.chain.build(), options(url, run_name="fixed"))
    with pytest.raises(RemoteError, match='409 Conflict: Workflow "fixed" already exists') as info:
        backend.submit(pipes.chain.build(), options(url, run_name="fixed"))
    assert info.value.status == 409


def test_connection_refused_is_reported_plainly() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RemoteError, match=f"cannot reach the Argo Server at http://127.0.0.1:{port}") as info:
        fast().submit(pipes.chain.build(), options(f"http://127.0.0.1:{port}"))
    assert info.value.status is None and TOKEN not in str(info.value)


def test_publish_creates_then_changes_nothing_then_updates(server: tuple[str, State]) -> None:
    url, state = server
    backend = fast()
    first = backend.publish(pipes.hostile.build(), options(url))
    assert first.changed and first.name == "hostile"
    assert "published workflow template hostile and cron workflow hostile (0 3 * * *)" in first.message
    template = state.objects[("WorkflowTemplate", "ml", "hostile")]
    cron = state.objects[("CronWorkflow", "ml", "hostile")]
    assert cron["spec"]["workflowSpec"] == {"workflowTemplateRef": {"name": "hostile"}}
    assert cron["spec"]["schedules"] == ["0 3 * * *"]
    count = len(state.requests)
    again = backend.publish(pipes.hostile.build(), options(url))
    assert not again.changed and again.message.startswith("unchanged:")
    assert [m for m, _, _ in state.requests[count:]] == ["GET", "GET"]  # read, compare, nothing written
    changed = backend.publish(pipes.hostile.build(), options(url, compile_options={"schedule": "0 4 * * *"}))
    assert changed.changed
    assert state.objects[("CronWorkflow", "ml", "hostile")]["spec"]["schedules"] == ["0 4 * * *"]
    assert state.objects[("WorkflowTemplate", "ml", "hostile")] is template  # the template did not change


def test_publish_updates_a_changed_template(server: tuple[str, State]) -> None:
    url, state = server
    backend = fast()
    backend.publish(pipes.chain.build(), options(url))
    assert ("CronWorkflow", "ml", "chain") not in state.objects  # no schedule, no cron workflow
    result = backend.publish(pipes.chain.build(), options(url, compile_options={"service_account": "runner"}))
    assert result.changed and "published workflow template chain" in result.message
    stored = state.objects[("WorkflowTemplate", "ml", "chain")]
    assert stored["spec"]["serviceAccountName"] == "runner"
    assert stored["metadata"]["resourceVersion"] != "1"


def test_cli_publish_says_when_nothing_changed(server: tuple[str, State]) -> None:
    url, _ = server
    runner = CliRunner()
    args = ["publish", f"{PIPES}:chain", "--backend", "argo", "--server", url, "-n", "ml", "--token", TOKEN]
    first = runner.invoke(app, args)
    assert first.exit_code == 0 and "published workflow template chain" in first.output, first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "unchanged" in second.output and TOKEN not in second.output


def test_the_stand_in_server_rejects_what_hera_rejects(server: tuple[str, State]) -> None:
    url, _ = server
    document = pipes.chain.build()
    backend = fast()
    manifest = backend.manifest(document)
    manifest["spec"]["bogus"] = 1
    backend.manifest = lambda document, **options: manifest  # type: ignore[method-assign]
    with pytest.raises(RemoteError, match="400") as info:
        backend.submit(document, options(url))
    assert "bogus" in str(info.value)
    assert yaml.safe_load(fast().compile(document))["kind"] == "Workflow"


def test_publish_from_two_processes_writes_once(server: tuple[str, State], tmp_path: Path) -> None:
    """CI compiles afresh on every run: two processes (own hash seed, folder and working directory) that
    publish the same pydantic-model pipeline write the WorkflowTemplate once; the second changes nothing."""
    url, state = server
    source = Path(__file__).parents[3] / "tests" / "determinism_pipeline.py"
    outputs = []
    for i, seed in enumerate(("1", "2")):
        folder = tmp_path / f"checkout{i}" / ("nested/" * i)
        folder.mkdir(parents=True)
        shutil.copy(source, folder / source.name)
        count = len(state.requests)
        done = subprocess.run(
            [str(Path(sys.executable).with_name("mlopsdsl")), "publish", f"{folder / source.name}:config",
             "--backend", "argo", "--server", url, "-n", "ml"],
            cwd=folder if i else tmp_path,
            env={**os.environ, "PYTHONHASHSEED": seed, "MLOPSDSL_TOKEN": TOKEN},
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert "published workflow template config" in outputs[0]
    assert outputs[1].startswith("unchanged:") and TOKEN not in outputs[1]
    assert [m for m, _, _ in state.requests[count:]] == ["GET"]  # read, compare, nothing written
    assert [key for key in state.objects if key[0] == "WorkflowTemplate"] == [
        ("WorkflowTemplate", "ml", "config")
    ]


def test_runs_show_reads_the_workflow_back(server: tuple[str, State]) -> None:
    url, state = server
    state.node_outputs = {"echo": {"output": '"hi"', "mlopsdsl-metrics": '{"loss": 0.25}'}}
    created = fast().submit(pipes.chain.build(), options(url, params={"start": "go"}, wait=True))
    view = fast().inspect(created.run_id, options(url))
    assert view.status == "Succeeded" and view.url == f"{url}/workflows/ml/{created.run_id}"
    by_name = {t.name: t for t in view.tasks}
    assert by_name["echo"].outputs == {"output": "hi"} and by_name["echo"].metrics == {"loss": 0.25}
    shown = CliRunner().invoke(
        app,
        ["runs", "show", created.run_id, "--backend", "argo", "--host", url, "-n", "ml", "--token", TOKEN],
    )
    assert shown.exit_code == 0, shown.output
    assert "step echo: Succeeded" in shown.output and "metric loss = 0.25" in shown.output
    assert TOKEN not in shown.output


def test_logs_come_from_the_pods_of_the_task(server: tuple[str, State]) -> None:
    from mlopsdsl_argo._client import pod_name

    url, state = server
    created = fast().submit(pipes.chain.build(), options(url, params={"start": "go"}, wait=True))
    stored = state.objects[("Workflow", "ml", created.run_id)]
    node = next(n for n in stored["status"]["nodes"].values() if n["displayName"] == "echo")
    pod = pod_name(stored, node)
    assert pod.startswith(f"{created.run_id}-{node['templateName']}-") and pod.rsplit("-", 1)[1].isdigit()
    state.pod_logs = {pod: ["hello from echo", "done"]}
    assert fast().logs(created.run_id, "echo", options(url)) == ["hello from echo", "done"]
    shown = CliRunner().invoke(
        app,
        ["logs", created.run_id, "echo", "--backend", "argo", "--host", url, "-n", "ml", "--token", TOKEN],
    )
    assert shown.exit_code == 0 and shown.output == "hello from echo\ndone\n", shown.output
    missing = CliRunner().invoke(
        app,
        ["logs", created.run_id, "nope", "--backend", "argo", "--host", url, "-n", "ml", "--token", TOKEN],
    )
    assert missing.exit_code == 4 and "has no task 'nope'" in missing.output


def test_pod_names_follow_argos_v2_format() -> None:
    from mlopsdsl_argo._client import pod_name

    # Argo's own GeneratePodName (v2): WORKFLOW-TEMPLATE-<fnv32a of the node name>.
    workflow = {"metadata": {"name": "wf"}}
    node = {"id": "wf-123", "name": "wf.step", "templateName": "tpl"}
    digest = 0x811C9DC5
    for byte in b"wf.step":
        digest = ((digest ^ byte) * 0x01000193) % 2**32
    assert pod_name(workflow, node) == f"wf-tpl-{digest}"
    workflow["metadata"]["annotations"] = {"workflows.argoproj.io/pod-name-format": "v1"}
    assert pod_name(workflow, node) == "wf-123"
