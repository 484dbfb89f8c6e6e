"""Submit and publish through the real ``kfp.Client`` against a stand-in KFP API server on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import kfp_pipelines as pipelines
import pytest
from conftest import TOKEN
from kfp_server import StandInServer
from typer.testing import CliRunner, Result

from mlopsdsl.cli import app

TARGET = f"{Path(pipelines.__file__)}:everything"


def cli(*args: str, token: str | None = TOKEN) -> Result:
    env = {"MLOPSDSL_TOKEN": token} if token is not None else {}
    return CliRunner().invoke(app, list(args), env=env)


def assert_no_token(result: Result, caplog: pytest.LogCaptureFixture) -> None:
    assert TOKEN not in result.output
    assert TOKEN not in (result.stderr if result.stderr_bytes is not None else "")
    assert TOKEN not in caplog.text


def test_submit_creates_a_run_with_parameters(
    kfp_server: StandInServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = cli("submit", TARGET, "--backend", "kfp", "--host", kfp_server.url, "-p", "n=7",
                 "--experiment", "nightly", "--run-name", "try-1")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.startswith("run run-0002 (") and result.output.rstrip().endswith(": Pending")
    run = kfp_server.state.runs["run-0002"]
    assert run["display_name"] == "try-1"
    assert run["runtime_config"]["parameters"] == {"n": 7}
    assert [e["display_name"] for e in kfp_server.state.experiments.values()] == ["nightly"]
    assert kfp_server.state.requests[0] == "GET /healthz"
    assert all(h.count(f"Bearer {TOKEN}") == 1 for h in kfp_server.state.headers)
    assert_no_token(result, caplog)


@pytest.mark.parametrize("no_cache", [False, True])
def test_submit_no_cache_turns_every_cache_off(kfp_server: StandInServer, no_cache: bool) -> None:
    import json

    flags = ["--no-cache"] if no_cache else []
    result = cli("submit", TARGET, "--backend", "kfp", "--host", kfp_server.url, "-O", "cache_root=/mnt/cache",
                 *flags)  # fmt: skip
    assert result.exit_code == 0, result.output
    spec = kfp_server.state.runs["run-0002"]["spec"][0]
    tasks = [
        t
        for c in [spec["root"], *spec["components"].values()]
        for t in c.get("dag", {}).get("tasks", {}).values()
    ]
    enabled = {t.get("cachingOptions", {}).get("enableCache", False) for t in tasks}
    assert enabled == ({False} if no_cache else {True, False})  # the pipeline has a step with cache=False
    executors = spec["deploymentSpec"]["executors"].values()
    specs = [json.loads(e["container"]["args"][e["container"]["args"].index("--spec-json") + 1]) for e in executors
             if "--spec-json" in e["container"]["args"]]  # fmt: skip
    specs = [s for s in specs if s["code"].get("module") != "copy"]  # output-NAME tasks are ours, not steps
    assert specs and all(s["cache"]["store"] == "/mnt/cache" for s in specs)
    assert {s["cache"]["read"] for s in specs} == {not no_cache}  # the pods still record what they compute


@pytest.mark.parametrize(("final", "code", "word"), [("SUCCEEDED", 0, "Succeeded"), ("FAILED", 1, "Failed")])
def test_submit_wait_exit_codes(kfp_server: StandInServer, final: str, code: int, word: str) -> None:
    kfp_server.state.final_state = final
    result = cli("submit", TARGET, "--backend", "kfp", "--host", kfp_server.url, "--wait")
    assert result.exit_code == code, result.output
    assert f": {word}" in result.output
    assert kfp_server.state.runs["run-0002"]["polls"] == 2  # RUNNING, then the end


def test_publish_creates_then_versions_then_does_nothing(kfp_server: StandInServer) -> None:
    url = kfp_server.url
    first = cli("publish", TARGET, "--backend", "kfp", "--host", url)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("created pipeline everything (pipeline-")
    again = cli("publish", TARGET, "--backend", "kfp", "--host", url)
    assert again.exit_code == 0 and again.output.startswith(
        "unchanged: pipeline everything version everything"
    )
    assert "nothing published" in again.output
    changed = cli("publish", f"{Path(pipelines.__file__)}:everything", "--backend", "kfp", "--host", url,
                  "--version", "v2", "--kind", "import")  # fmt: skip
    assert changed.exit_code == 2  # kfp takes no --kind; reported as a compile error
    (pipeline_id,) = kfp_server.state.pipelines
    assert [v["display_name"] for v in kfp_server.state.versions[pipeline_id]] == ["everything"]


def test_publish_new_content_adds_a_version(kfp_server: StandInServer, tmp_path: Path) -> None:
    source = Path(pipelines.__file__).read_text()
    first = tmp_path / "first" / "published_a.py"
    first.parent.mkdir()
    first.write_text(source)
    assert cli("publish", f"{first}:configured", "--backend", "kfp", "--host", kfp_server.url).exit_code == 0
    second = tmp_path / "second" / "published_b.py"
    second.parent.mkdir()
    second.write_text(source.replace("return x * 2", "return x * 3"))
    result = cli(
        "publish", f"{second}:configured", "--backend", "kfp", "--host", kfp_server.url, "--version", "v2"
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().startswith("published pipeline configured version v2 (")
    (pipeline_id,) = kfp_server.state.pipelines
    assert [v["display_name"] for v in kfp_server.state.versions[pipeline_id]] == ["configured", "v2"]
    same = cli("publish", f"{second}:configured", "--backend", "kfp", "--host", kfp_server.url)
    assert same.output.startswith("unchanged: pipeline configured version v2")


def test_wrong_token_is_401(kfp_server: StandInServer, caplog: pytest.LogCaptureFixture) -> None:
    result = cli("submit", TARGET, "--backend", "kfp", "--host", kfp_server.url, token="wrong-token-xyz")
    assert result.exit_code == 4, result.output
    assert "HTTP 401 unauthorized: the token is missing, wrong or expired" in result.output
    assert "wrong-token-xyz" not in result.output


@pytest.mark.parametrize(
    ("prefix", "status", "text"),
    [
        ("/runs", 404, "HTTP 404 not found"),
        ("/pipelines/upload", 409, "HTTP 409 conflict: it already exists"),
    ],
)
def test_server_errors_are_plain(
    kfp_server: StandInServer, caplog: pytest.LogCaptureFixture, prefix: str, status: int, text: str
) -> None:
    kfp_server.state.fail[prefix] = status
    command = "submit" if prefix == "/runs" else "publish"
    result = cli(command, TARGET, "--backend", "kfp", "--host", kfp_server.url)
    assert result.exit_code == 4, result.output
    assert text in result.output
    assert f"forced {status}" in result.output
    assert "Traceback" not in result.output
    assert_no_token(result, caplog)


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = cli("submit", TARGET, "--backend", "kfp", "--host", f"http://127.0.0.1:{port}")
    assert result.exit_code == 4, result.output
    assert f"cannot reach the KFP server at http://127.0.0.1:{port}: connection refused" in result.output
    assert TOKEN not in result.output


def test_submit_refuses_an_int_kfp_would_round_before_contacting_the_server(
    kfp_server: StandInServer,
) -> None:
    result = cli(
        "submit", TARGET, "--backend", "kfp", "--host", kfp_server.url, "-p", "n=99999999999999999999999"
    )
    assert result.exit_code == 2, result.output
    assert "parameter 'n' is 99999999999999999999999, beyond ±(2**53 - 1)" in result.output
    assert kfp_server.state.requests == []


def test_publish_from_two_processes_publishes_once(kfp_server: StandInServer, tmp_path: Path) -> None:
    """CI compiles afresh on every run: two processes (own hash seed, folder and working directory) that
    publish the same pydantic-model pipeline make one version; the second finds nothing to publish."""
    source = Path(__file__).parents[3] / "tests" / "determinism_pipeline.py"
    outputs = []
    for i, seed in enumerate(("1", "2")):
        folder = tmp_path / f"checkout{i}" / ("nested/" * i)
        folder.mkdir(parents=True)
        shutil.copy(source, folder / source.name)
        done = subprocess.run(
            [str(Path(sys.executable).with_name("mlopsdsl")), "publish", f"{folder / source.name}:config",
             "--backend", "kfp", "--host", kfp_server.url],
            cwd=folder if i else tmp_path,
            env={**os.environ, "PYTHONHASHSEED": seed, "MLOPSDSL_TOKEN": TOKEN},
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0].startswith("created pipeline config (pipeline-")
    assert (
        outputs[1].startswith("unchanged: pipeline config version config")
        and "nothing published" in outputs[1]
    )
    (pipeline_id,) = kfp_server.state.pipelines
    assert [v["display_name"] for v in kfp_server.state.versions[pipeline_id]] == ["config"]


def test_runs_show_reads_the_run_back(kfp_server: StandInServer, caplog: pytest.LogCaptureFixture) -> None:
    submitted = cli("submit", TARGET, "--backend", "kfp", "--host", kfp_server.url, "--wait")
    assert submitted.exit_code == 0, submitted.output
    run_id = submitted.output.split()[1].rstrip(":")
    shown = cli("runs", "show", run_id, "--backend", "kfp", "--host", kfp_server.url)
    assert shown.exit_code == 0, shown.output
    assert f"run {run_id}: Succeeded" in shown.output
    tasks = kfp_server.state.runs[run_id]["run_details"]["task_details"]
    assert tasks and all(f"step {t['display_name']}: Succeeded" in shown.output for t in tasks)
    assert_no_token(shown, caplog)


def test_logs_on_kfp_say_where_they_are(kfp_server: StandInServer) -> None:
    result = cli("logs", "run-1", "train", "--backend", "kfp", "--host", kfp_server.url)
    assert result.exit_code == 4
    assert "does not serve the logs" in result.output and "kubectl logs" in result.output
