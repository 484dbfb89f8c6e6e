"""Secrets on this machine: a step sees the values of the secret keys it declares and nothing else of the
runner's environment; values come from --secret, a .env file or the environment, and are never written."""

from __future__ import annotations

import hashlib
import inspect
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mlopsdsl as ml
from mlopsdsl.cli import app
from mlopsdsl.errors import ParameterError
from mlopsdsl.local._prestart import clean_environment
from mlopsdsl.local._secrets import read_env_file

VALUE = "pa55-w0rd-value"
DIGEST = hashlib.sha256(VALUE.encode()).hexdigest()
"""What the step compares with: its code is shipped (and kept) by value, so it must not hold the value."""


@ml.step(secrets=[ml.Secret(name="db", key="password", env="DB_PASSWORD")])
def connect(n: int) -> list[str]:
    """What this step can see: whether its secret arrived right, and the runner's marker variable."""
    got = hashlib.sha256(os.environ.get("DB_PASSWORD", "").encode()).hexdigest()
    seen = ["secret-ok" if got == DIGEST else "secret-wrong"]
    return seen + (["marker"] if "RUNNER_ONLY_MARKER" in os.environ else [])


@ml.step
def bystander(n: int) -> list[str]:
    return [name for name in ("DB_PASSWORD", "RUNNER_ONLY_MARKER") if name in os.environ]


@ml.pipeline
def guarded(n: int = 1) -> tuple[list[str], list[str]]:
    return connect(n=n), bystander(n=n)


def _everything_written(home: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())


def test_a_step_sees_its_own_secret_and_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNER_ONLY_MARKER", "x")
    monkeypatch.chdir(tmp_path)
    result = ml.run(guarded, home=tmp_path / "home", progress=False, secrets={"db.password": VALUE})
    assert result.outputs == {"output_0": ["secret-ok"], "output_1": []}
    assert VALUE not in _everything_written(tmp_path / "home")  # specs, records, logs: never the value


def test_inherit_env_passes_the_runners_environment_but_not_other_steps_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNNER_ONLY_MARKER", "x")
    monkeypatch.chdir(tmp_path)
    result = ml.run(
        guarded, home=tmp_path / "home", progress=False, secrets={"db.password": VALUE}, clean_env=False
    )
    assert result.outputs == {"output_0": ["secret-ok", "marker"], "output_1": ["RUNNER_ONLY_MARKER"]}


@pytest.mark.parametrize("line", [f"db.password={VALUE}", f"export DB_PASSWORD='{VALUE}'"])
def test_a_dotenv_file_by_reference_or_by_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"# local secrets\n\n{line}\nOTHER=1\n")
    result = ml.run(guarded, home=tmp_path / "home", progress=False)
    assert result.outputs["output_0"] == ["secret-ok"]


def test_the_environment_is_the_last_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DB_PASSWORD", VALUE)
    result = ml.run(guarded, home=tmp_path / "home", progress=False)
    # The runner had DB_PASSWORD; only the step that declares it sees it.
    assert result.outputs == {"output_0": ["secret-ok"], "output_1": []}


def test_a_missing_secret_stops_the_run_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    with pytest.raises(ParameterError) as info:
        ml.run(guarded, home=tmp_path / "home", progress=False)
    line = inspect.getsourcelines(connect.fn)[1]
    assert (
        f"test_local_secrets.py:{line}: step 'connect' declares secret db.password (env DB_PASSWORD)"
        in str(info.value)
    )
    assert not (tmp_path / "home" / "runs").exists()
    with pytest.raises(ParameterError, match=r"--secret db\.pasword: no step declares it"):
        ml.run(guarded, home=tmp_path / "home", progress=False, secrets={"db.pasword": VALUE})


def test_the_cli_takes_secrets_and_never_prints_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLOPSDSL_HOME", str(tmp_path / "home"))
    target = f"{Path(__file__)}:guarded"
    done = CliRunner().invoke(app, ["run", target, "--secret", f"db.password={VALUE}"])
    assert done.exit_code == 0, done.output
    assert 'output_0: ["secret-ok"]' in done.output and VALUE not in done.output
    wrong = CliRunner().invoke(app, ["run", target, "--secret", f"db.pasword={VALUE}"])
    assert wrong.exit_code == 2 and "db.pasword" in wrong.output and VALUE not in wrong.output
    malformed = CliRunner().invoke(app, ["run", target, "--secret", f"nodot={VALUE}"])
    assert (
        malformed.exit_code == 2
        and "write NAME.KEY=VALUE" in malformed.output
        and VALUE not in malformed.output
    )


def test_env_files_and_clean_environments(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text('A=1\nexport B = "two words"\n# C=3\nbad line\n')
    with pytest.raises(ParameterError, match=r"\.env:4: not a KEY=VALUE line") as info:
        read_env_file(env)
    assert "bad line" not in str(info.value)
    env.write_text('A=1\nexport B = "two words"\n# C=3\n')
    assert read_env_file(env) == {"A": "1", "B": "two words"}
    kept = clean_environment({"PATH": "/bin", "LC_ALL": "C", "AWS_REGION": "x", "TOKEN": "t", "HOME": "/h"})
    assert kept == {"PATH": "/bin", "LC_ALL": "C", "AWS_REGION": "x", "HOME": "/h"}
