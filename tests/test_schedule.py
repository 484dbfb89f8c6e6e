"""``ml.Schedule``: checked where written, kept in the IR (as bare cron text when nothing else is set, so
IR 1.3 documents and their digests stay the same), and one rule for what each engine cannot honour."""

from __future__ import annotations

import json
from typing import Any

import pytest

import mlopsdsl as ml
from mlopsdsl import ir
from mlopsdsl.errors import CompileError, DefinitionError, ValidationError
from mlopsdsl.lowering import check_schedule, schedule_of


@ml.step
def tick(n: int) -> int:
    return n


@ml.pipeline(schedule="@daily")
def plain(n: int = 1) -> int:
    return tick(n=n)


@ml.pipeline(schedule=ml.Schedule("0 3 * * *", timezone="Europe/Paris", max_concurrency=None, keep_failed=2))
def detailed(n: int = 1) -> int:
    return tick(n=n)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ml.Schedule(""), "cron must be a cron schedule"),
        (
            lambda: ml.Schedule("@daily", max_concurrency=0),
            "max_concurrency must be a whole number of at least 1",
        ),
        (
            lambda: ml.Schedule("@daily", max_concurrency=2, replace_running=True),
            "it needs max_concurrency=1",
        ),
        (lambda: ml.Schedule("@daily", starting_deadline="soon"), "starting_deadline must be a duration"),
        (lambda: ml.Schedule("@daily", starting_deadline=1.5), "starting_deadline must be a whole number"),
        (lambda: ml.Schedule("@daily", keep_failed=-1), "keep_failed must be a whole number of at least 0"),
        (lambda: ml.Schedule("@daily", enabled="no"), "enabled must be True or False"),
    ],
)
def test_bad_schedules_are_reported_at_the_line_that_wrote_them(make: Any, message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        make()
    assert message in str(info.value)
    assert info.value.location is not None and info.value.location.file.endswith("test_schedule.py")


def test_a_bare_cron_is_written_as_text_and_settings_as_an_object() -> None:
    text = json.loads(plain.build().to_json())["pipelines"][0]["schedule"]
    assert text == "@daily"
    written = json.loads(detailed.build().to_json())["pipelines"][0]["schedule"]
    assert written == {
        "cron": "0 3 * * *",
        "timezone": "Europe/Paris",
        "max_concurrency": None,
        "keep_failed": 2,
    }
    for pipeline in (plain, detailed):
        document = pipeline.build()
        assert ir.Document.from_json(document.to_json()) == document
    assert plain.build().pipeline.schedule == ml.Schedule("@daily")


def test_an_ir_13_document_with_a_cron_reads_and_keeps_its_digest() -> None:
    document = plain.build()
    data = json.loads(document.to_json())
    data["ir_version"] = "1.3"
    again = ir.Document.from_json(json.dumps(data))
    assert again.pipeline.schedule == ml.Schedule("@daily")
    assert again.with_digests().digest == document.digest


def test_the_cron_is_still_validated_and_a_wrong_type_is_reported() -> None:
    @ml.pipeline(schedule=ml.Schedule("every day"))
    def wrong_cron(n: int = 1) -> int:
        return tick(n=n)

    with pytest.raises(ValidationError, match="schedule 'every day' of pipeline 'wrong_cron' is not a cron"):
        wrong_cron.build()
    # A Pipeline made without the decorator (which refuses it at once) reports it with the build.
    wrong_type = ml.Pipeline(_body, None, None, schedule=3)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"schedule=...\) must be a cron string or ml.Schedule"):
        wrong_type.build()


def _body(n: int = 1) -> int:
    return tick(n=n)


def test_the_option_replaces_only_the_cron() -> None:
    document = detailed.build()
    schedule = schedule_of(document, "x", "@hourly")
    assert schedule is not None and schedule.cron == "@hourly" and schedule.keep_failed == 2
    assert schedule_of(plain.build(), "x") == ml.Schedule("@daily")
    assert schedule_of(tick_only(), "x") is None
    with pytest.raises(CompileError, match="schedule must be a cron schedule"):
        schedule_of(document, "x", 5)


def tick_only() -> ir.Document:
    @ml.pipeline
    def unscheduled(n: int = 1) -> int:
        return tick(n=n)

    return unscheduled.build()


def test_check_schedule_lists_every_setting_an_engine_cannot_honour() -> None:
    document = detailed.build()
    assert document.pipeline.schedule is not None
    reasons = {"timezone": lambda s: None, "max_concurrency": lambda s: "no unlimited runs here"}
    with pytest.raises(CompileError) as info:
        check_schedule(document, document.pipeline.schedule, "mini", reasons)
    assert str(info.value).endswith(
        "[mini] schedule of pipeline 'detailed': max_concurrency=None: no unlimited runs here; "
        "keep_failed=2: the mini backend has no keep_failed"
    )
    assert info.value.location is not None and info.value.location.file.endswith("test_schedule.py")
    check_schedule(document, ml.Schedule("@daily"), "mini", {})  # the defaults need nothing
