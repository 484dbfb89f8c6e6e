"""Schedules on Argo: a CronWorkflow with time zone, concurrency policy, starting deadline, history limits
and suspension, checked by hera's models and Argo's schema; what Argo cannot honour is a located error."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import argo_pipelines as pipes
import pytest
from argo_server import State, argo_server
from mlopsdsl_argo import ArgoBackend
from test_argo_compile import assert_valid

import mlopsdsl as ml
from mlopsdsl.backends import RemoteOptions
from mlopsdsl.errors import CompileError

TOKEN = "argo-schedule-token"


def test_every_schedule_setting_reaches_the_cron_workflow() -> None:
    data = assert_valid(ml.compile(pipes.nightly, backend="argo", kind="cron"))
    spec = data["spec"]
    assert {k: v for k, v in spec.items() if k != "workflowSpec"} == {
        "schedules": ["0 3 * * 1-5"],
        "timezone": "Europe/Paris",
        "concurrencyPolicy": "Replace",
        "startingDeadlineSeconds": 300,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 1,
        "suspend": True,
    }


def test_the_defaults_run_one_at_a_time_and_the_option_replaces_only_the_cron() -> None:
    data = assert_valid(ml.compile(pipes.hostile, backend="argo", kind="cron"))
    assert data["spec"]["concurrencyPolicy"] == "Forbid"
    assert "suspend" not in data["spec"] and "timezone" not in data["spec"]
    data = assert_valid(ml.compile(pipes.nightly, backend="argo", kind="cron", schedule="@hourly"))
    assert data["spec"]["schedules"] == ["@hourly"] and data["spec"]["timezone"] == "Europe/Paris"


def test_what_argo_cannot_honour_is_an_error_at_the_pipeline() -> None:
    with pytest.raises(CompileError) as info:
        ml.compile(pipes.kfp_only_schedule, backend="argo", kind="cron")
    message = str(info.value)
    assert (
        "schedule of pipeline 'kfp_only_schedule': max_concurrency=3: Argo runs a cron workflow's runs one"
        in message
    )
    assert "catch_up=True: Argo starts at most the last missed run" in message
    assert info.value.location is not None
    assert info.value.location.line == inspect.getsourcelines(pipes.kfp_only_schedule.fn)[1]
    # Unlimited is Argo's Allow.
    unlimited = ml.Schedule("@hourly", max_concurrency=None)
    assert unlimited.changed() == ["max_concurrency"]


@pytest.fixture
def server() -> Iterator[tuple[str, State]]:
    with argo_server(TOKEN) as running:
        yield running


def test_publish_makes_the_cron_workflow_with_every_setting(server: tuple[str, State]) -> None:
    url, state = server
    options = RemoteOptions(host=url, token=TOKEN, namespace="ml")
    result = ArgoBackend(poll_interval=0.01).publish(pipes.nightly.build(), options)
    assert result.changed, result.message
    cron = state.objects[("CronWorkflow", "ml", "nightly")]
    assert cron["spec"]["timezone"] == "Europe/Paris" and cron["spec"]["suspend"] is True
    assert cron["spec"]["workflowSpec"] == {"workflowTemplateRef": {"name": "nightly"}}
