"""A real Prometheus and Pushgateway (Debian's ``prometheus`` and ``prometheus-pushgateway``) on
127.0.0.1, for the tests that push metrics and read them back through Prometheus' HTTP API."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tracking_servers import Prometheus


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("MLOPSDSL_REQUIRE_SHARED"):
            pytest.fail(f"{name} is not installed (apt-get install {name}); .ci/run installs it")
        pytest.skip(f"{name} is not installed (Debian package {name})")
    return found


def _wait_http(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer at {url}")


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    gateway_bin = _binary("prometheus-pushgateway")
    prometheus_bin = _binary("prometheus")
    folder: Path = tmp_path_factory.mktemp("prometheus")
    gateway_port, prometheus_port = _free_port(), _free_port()
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: pushgateway\n    honor_labels: true\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{gateway_port}']\n"
    )
    processes = []
    with (
        (folder / "pushgateway.log").open("wb") as gateway_log,
        (folder / "prometheus.log").open("wb") as log,
    ):
        try:
            yield from _serve(
                gateway_bin,
                prometheus_bin,
                config,
                folder,
                gateway_port,
                prometheus_port,
                processes,
                gateway_log,
                log,
            )
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()


def _serve(
    gateway_bin: str,
    prometheus_bin: str,
    config: Path,
    folder: Path,
    gateway_port: int,
    prometheus_port: int,
    processes: list[subprocess.Popen[bytes]],
    gateway_log: Any,
    log: Any,
) -> Iterator[Prometheus]:
    if True:
        gateway = subprocess.Popen(
            [gateway_bin, f"--web.listen-address=127.0.0.1:{gateway_port}"],
            stdout=subprocess.DEVNULL,
            stderr=gateway_log,
        )
        processes.append(gateway)
        server = subprocess.Popen(
            [
                prometheus_bin,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        processes.append(server)
        _wait_http(f"http://127.0.0.1:{gateway_port}/-/ready", gateway, "prometheus-pushgateway")
        _wait_http(f"http://127.0.0.1:{prometheus_port}/-/ready", server, "prometheus")
        yield Prometheus(f"http://127.0.0.1:{prometheus_port}", f"http://127.0.0.1:{gateway_port}")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` with a sqlite backend store on 127.0.0.1; its URL."""
    if shutil.which("mlflow", path=os.path.dirname(sys.executable)) is None:
        if os.environ.get("MLOPSDSL_REQUIRE_SHARED"):
            pytest.fail("mlflow is not installed in the test environment (the test extra installs it)")
        pytest.skip("mlflow is not installed (pip install mlflow)")
    folder: Path = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    # Nothing leaves this machine: MLflow's usage telemetry is off for the server, this process and the
    # steps it starts (they inherit the environment).
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["DO_NOT_TRACK"] = "true"
    with (folder / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [
                os.path.join(os.path.dirname(sys.executable), "mlflow"),
                "server",
                "--backend-store-uri",
                f"sqlite:///{folder / 'mlflow.db'}",
                "--default-artifact-root",
                str(folder / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=folder,
        )
        try:
            deadline = time.monotonic() + 300  # it takes ~45 s on a busy 2-core machine
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"mlflow server exited: {(folder / 'server.log').read_text()[-2000:]}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("mlflow server did not start") from None
                    time.sleep(0.5)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
