"""Schedules on KFP: ``publish`` makes, keeps, re-points, enables or disables a recurring run through the real
``kfp.Client`` against the stand-in API server; what KFP cannot honour is a located error first."""

from __future__ import annotations

import inspect
from pathlib import Path

import kfp_pipelines as pipelines
import pytest
from conftest import TOKEN
from kfp_server import StandInServer
from mlopsdsl_kfp._schedule import Trigger, trigger_of
from typer.testing import CliRunner, Result

from mlopsdsl.cli import app

SOURCE = Path(pipelines.__file__)


def publish(server: StandInServer, target: str, *args: str) -> Result:
    return CliRunner().invoke(
        app,
        ["publish", target, "--backend", "kfp", "--host", server.url, *args],
        env={"MLOPSDSL_TOKEN": TOKEN},
    )


def test_publish_schedule_creates_a_recurring_run_of_the_version(kfp_server: StandInServer) -> None:
    result = publish(kfp_server, f"{SOURCE}:everything", "--schedule", "30 2 * * 1-5")
    assert result.exit_code == 0, result.output
    (held,) = kfp_server.state.recurring.values()
    (pipeline_id,) = kfp_server.state.pipelines
    (version,) = kfp_server.state.versions[pipeline_id]
    assert held["display_name"] == "everything"
    assert held["trigger"] == {"cron_schedule": {"cron": "0 30 2 * * 1-5"}}  # KFP's cron starts with seconds
    assert held["pipeline_version_reference"] == {
        "pipeline_id": pipeline_id,
        "pipeline_version_id": version["pipeline_version_id"],
    }
    assert (held["max_concurrency"], held["no_catchup"], held["mode"]) == ("1", True, "ENABLE")
    assert result.output.strip().endswith("created recurring run everything (30 2 * * 1-5)")


def test_publishing_again_keeps_then_enables_then_replaces(kfp_server: StandInServer, tmp_path: Path) -> None:
    target = f"{SOURCE}:scheduled"
    assert publish(kfp_server, target).exit_code == 0
    (first_id, held), = kfp_server.state.recurring.items()  # fmt: skip
    assert held["trigger"] == {"cron_schedule": {"cron": "0 0 0 * * *"}}  # @daily, six fields
    assert (held["max_concurrency"], held["no_catchup"]) == ("3", False)

    again = publish(kfp_server, target)
    assert again.exit_code == 0, again.output
    assert again.output.strip().endswith("recurring run scheduled unchanged")
    assert list(kfp_server.state.recurring) == [first_id]

    kfp_server.state.recurring[first_id]["mode"] = "DISABLE"  # paused in the UI
    enabled = publish(kfp_server, target)
    assert enabled.output.strip().endswith("enabled recurring run scheduled"), enabled.output
    assert list(kfp_server.state.recurring) == [first_id]
    assert kfp_server.state.recurring[first_id]["mode"] == "ENABLE"

    changed = tmp_path / "scheduled_changed.py"
    changed.write_text(SOURCE.read_text().replace("return x + 1", "return x + 2"))
    replaced = publish(kfp_server, f"{changed}:scheduled", "--version", "v2")
    assert replaced.exit_code == 0, replaced.output
    (new_id, now), = kfp_server.state.recurring.items()  # fmt: skip
    assert new_id != first_id  # KFP cannot update a recurring run: the old one is gone
    versions = kfp_server.state.versions[now["pipeline_version_reference"]["pipeline_id"]]
    assert now["pipeline_version_reference"]["pipeline_version_id"] == versions[-1]["pipeline_version_id"]
    assert "replaced recurring run scheduled (@daily)" in replaced.output


def test_every_becomes_a_periodic_trigger(kfp_server: StandInServer) -> None:
    result = publish(kfp_server, f"{SOURCE}:everything", "--schedule", "@every 1h30m")
    assert result.exit_code == 0, result.output
    (held,) = kfp_server.state.recurring.values()
    assert held["trigger"] == {"periodic_schedule": {"interval_second": "5400"}}


def test_what_kfp_cannot_honour_is_an_error_before_the_server_is_asked(kfp_server: StandInServer) -> None:
    result = publish(kfp_server, f"{SOURCE}:argo_only_schedule")
    assert result.exit_code == 2
    line = inspect.getsourcelines(pipelines.argo_only_schedule.fn)[1]
    assert f"kfp_pipelines.py:{line}: [kfp] schedule of pipeline 'argo_only_schedule': " in result.output
    for reason in (
        "timezone='Europe/Paris': KFP reads a recurring run's cron in the API server's time zone (UTC)",
        "replace_running=True: KFP never stops a running run for a due one",
        "starting_deadline=300.0: the kfp backend has no starting_deadline",
        "keep_failed=2: the kfp backend has no keep_failed",
    ):
        assert reason in result.output
    assert kfp_server.state.requests == []


@pytest.mark.parametrize(
    ("cron", "trigger"),
    [
        ("0 3 * * *", Trigger(cron="0 0 3 * * *")),
        ("@hourly", Trigger(cron="0 0 * * * *")),
        ("@weekly", Trigger(cron="0 0 0 * * 0")),
        ("@every 90s", Trigger(interval=90)),
    ],
)
def test_triggers(cron: str, trigger: Trigger) -> None:
    assert trigger_of(cron) == trigger
