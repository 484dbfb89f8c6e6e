"""Publishing into a DAGs folder, and submitting through the REST API of a real Airflow: an ``airflow
api-server`` and an ``airflow scheduler`` (local executor) that these tests start on 127.0.0.1, with their
own home and SQLite database, and stop at the end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import airflow_pipelines as pipes
import pytest
from mlopsdsl_airflow import AirflowBackend
from typer.testing import CliRunner

import mlopsdsl as ml
from mlopsdsl.backends import RemoteOptions
from mlopsdsl.cli import app
from mlopsdsl.errors import RemoteError

PASSWORD = "s3cr3t-pa55"
PIPES = str(Path(pipes.__file__))


def test_publish_writes_only_when_the_content_changes(tmp_path: Path) -> None:
    backend = AirflowBackend()
    options = RemoteOptions(host=str(tmp_path), compile_options={"operator": "local"})
    first = backend.publish(pipes.chain.build(), options)
    assert first.changed and first.name == "chain"
    written = tmp_path / "chain.py"
    assert written.read_text() == ml.compile(pipes.chain, backend="airflow", operator="local")
    stamp = written.stat().st_mtime_ns
    again = backend.publish(pipes.chain.build(), options)
    assert not again.changed and "unchanged" in again.message
    assert written.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == ["chain.py"]  # no temporary file left behind
    renamed = backend.publish(
        pipes.chain.build(), RemoteOptions(host=str(tmp_path), compile_options={"dag_id": "c2"})
    )
    assert renamed.changed and (tmp_path / "c2.py").exists()


def test_publish_to_an_fsspec_url() -> None:
    import fsspec

    backend = AirflowBackend()
    options = RemoteOptions(host="memory://dags/")
    assert backend.publish(pipes.chain.build(), options).changed
    assert not backend.publish(pipes.chain.build(), options).changed
    assert fsspec.filesystem("memory").cat_file("/dags/chain.py").decode() == ml.compile(
        pipes.chain, backend="airflow"
    )


def test_publish_into_a_missing_folder_is_a_remote_error(tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="cannot write the DAG file"):
        AirflowBackend().publish(pipes.chain.build(), RemoteOptions(host=str(tmp_path / "nowhere")))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(home: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        }
    )
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Airflow on 127.0.0.1 with the ``chain`` DAG (local operator) published and parsed."""
    home = tmp_path_factory.mktemp("airflow-server")
    (home / "dags").mkdir()
    (home / "passwords.json").write_text(json.dumps({"admin": PASSWORD}))
    port = _free_port()
    env = _env(home, port)
    airflow = str(Path(sys.executable).parent / "airflow")
    AirflowBackend().publish(
        pipes.chain.build(), RemoteOptions(host=str(home / "dags"), compile_options={"operator": "local"})
    )
    for command in (["db", "migrate"], ["dags", "reserialize"]):
        subprocess.run([airflow, *command], env=env, check=True, capture_output=True)
    logs = [open(home / f"{name}.log", "w") for name in ("api", "scheduler")]  # noqa: SIM115
    procs = [
        subprocess.Popen([airflow, "api-server", "-H", "127.0.0.1", "-p", str(port), "-w", "1"], env=env,
                         stdout=logs[0], stderr=subprocess.STDOUT),
        subprocess.Popen([airflow, "scheduler"], env=env, stdout=logs[1], stderr=subprocess.STDOUT),
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as response:
                    health = json.loads(response.read())
                if health["scheduler"]["status"] == "healthy":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("Airflow did not start:\n" + (home / "api.log").read_text()[-3000:])
            time.sleep(1)
        yield url
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


def test_submit_with_a_token_without_waiting(server: str) -> None:
    result = AirflowBackend().submit(
        pipes.chain.build(),
        RemoteOptions(host=server, token=_login(server), run_name="by-token", params={"x": 5}),
    )
    assert result.run_id == "by-token"
    assert result.status in ("queued", "running", "success")
    assert result.succeeded is None


def test_the_cli_submits_and_waits(server: str) -> None:
    """Basic credentials, exchanged for a token; the run really runs (scheduler, local executor)."""
    runner = CliRunner(env={"AIRFLOW_USERNAME": "admin", "AIRFLOW_PASSWORD": PASSWORD})
    result = runner.invoke(
        app, ["submit", f"{PIPES}:chain", "--backend", "airflow", "--host", server, "-p", "x=3", "--wait",
              "--timeout", "240"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "success" in result.output


def test_refusals_are_remote_errors(server: str) -> None:
    with pytest.raises(RemoteError, match=r"HTTP 40[13].*token") as raised:
        AirflowBackend().submit(pipes.chain.build(), RemoteOptions(host=server, token="not-a-token"))
    assert "not-a-token" not in str(raised.value)
    with pytest.raises(RemoteError, match=r"HTTP 404.*is the DAG published"):
        AirflowBackend().submit(pipes.settings.build(), RemoteOptions(host=server, token=_login(server)))
    with pytest.raises(RemoteError, match="cannot reach Airflow"):
        AirflowBackend().submit(pipes.chain.build(), RemoteOptions(host=f"http://127.0.0.1:{_free_port()}"))


def _login(server: str) -> str:
    request = urllib.request.Request(
        f"{server}/auth/token",
        data=json.dumps({"username": "admin", "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["access_token"])
