"""Every way a server can fail a submit or a publish, on both remote backends, through the real
``kfp.Client`` and the real Argo client: exit 4, one line, no traceback, no token and nothing else
credential-shaped in it (the servers echo both), and never a success without the created object's id.
Each (backend, command, shape) is one row of the *remote response shapes* figure of docs/reliability.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_server import SECRET, SHAPES, HostileServer
from typer.testing import CliRunner

from mlopsdsl.cli import app

TOKEN = "tok-8f3a-never-print-me"
TARGET = str(Path(__file__).parent / "killable.py")


@pytest.fixture(params=SHAPES)
def server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileServer]:
    monkeypatch.setenv("MLOPSDSL_REMOTE_TIMEOUT", "1")
    hostile = HostileServer(request.param, hang=4)
    try:
        yield hostile
    finally:
        hostile.close()


@pytest.mark.parametrize("backend", ["kfp", "argo"])
@pytest.mark.parametrize("command", ["submit", "publish"])
def test_every_failure_shape_is_exit_4_with_one_clean_line(
    backend: str, command: str, server: HostileServer, caplog: pytest.LogCaptureFixture
) -> None:
    result = CliRunner().invoke(
        app, [command, TARGET, "--backend", backend, "--host", server.url], env={"MLOPSDSL_TOKEN": TOKEN}
    )
    output = result.output
    assert result.exit_code == 4, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "Traceback" not in output and server.url in output
    assert TOKEN not in output and SECRET not in output and TOKEN not in caplog.text
    assert "run None" not in output and "succeeded" not in output.lower()


def test_credential_shaped_text_is_redacted() -> None:
    from mlopsdsl.errors import RemoteError, redact

    text = (
        'denied: Authorization: Bearer abc.def.ghi password="p4ss" aws_secret_access_key=wJalr/K7MDENG '
        "AKIAIOSFODNN7EXAMPLE api_key: 12345 session_token=zzz the token may not do this"
    )
    shown = redact(text)
    for secret in ("abc.def.ghi", "p4ss", "wJalr/K7MDENG", "AKIAIOSFODNN7EXAMPLE", "12345", "zzz"):
        assert secret not in shown, shown
    assert shown.endswith("the token may not do this")
    assert (
        str(RemoteError("server said:\n tok-123456 again", secrets=("tok-123456",)))
        == "server said: *** again"
    )
