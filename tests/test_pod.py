"""Pod settings (``ml.Pod``): checked where written, kept in the IR, combined by one rule, and reported at the
user's line when a backend cannot set them."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import mlopsdsl as ml
from mlopsdsl import ir
from mlopsdsl.errors import DefinitionError, ValidationError
from mlopsdsl.lowering import Capabilities, Identity, check, identity_of, pod_of


def _line(marker: str, fn: Any) -> int:
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, text in enumerate(lines) if marker in text)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ml.Pod(run_as_user=0), "run_as_user=0 is root: say so with run_as_root=True"),
        (lambda: ml.Pod(image_pull_policy="Sometimes"), "image_pull_policy must be one of Always"),
        (lambda: ml.Pod(service_account="Not_A_Name"), "service_account must be a Kubernetes object name"),
        (lambda: ml.Pod(shm_size="lots"), "shm_size must be a Kubernetes quantity"),
        (lambda: ml.Pod(patch={"x": object()}), "patch must hold JSON values only"),
        (lambda: ml.Pod(affinity=[{"key": "gpu"}]), "affinity must be a list of ml.NodeAffinity"),
        (lambda: ml.Pod(run_as_group=-1), "run_as_group must be a whole number of at least 0"),
        (lambda: ml.NodeAffinity("gpu"), "operator 'In' needs at least one value"),
        (lambda: ml.NodeAffinity("gpu", ["a"], operator="Exists"), "operator 'Exists' takes no values"),
        (lambda: ml.NodeAffinity("cores", ["many"], operator="Gt"), "operator 'Gt' takes exactly one whole"),
        (lambda: ml.NodeAffinity("gpu", ["a"], weight=101), "weight must be a whole number from 1 to 100"),
        (lambda: ml.PodAffinity({}), "labels must be a non-empty dict of strings"),
        (lambda: ml.PodAffinity({"app": "db"}, anti="yes"), "anti must be True or False"),
    ],
)
def test_bad_pod_settings_are_reported_at_the_line_that_wrote_them(make: Any, message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        make()
    assert message in str(info.value)
    assert info.value.location is not None and info.value.location.file.endswith("test_pod.py")


def test_values_are_normalised_so_equal_settings_compare_equal() -> None:
    pod = ml.Pod(image_pull_secrets="regcred", affinity=ml.NodeAffinity("gpu", "a100"), shm_size=2)
    assert pod.image_pull_secrets == ("regcred",)
    assert pod.affinity == (ml.NodeAffinity("gpu", ["a100"]),)
    assert pod.shm_size == "2"
    assert hash(ml.PodAffinity({"b": "1", "a": "2"})) == hash(ml.PodAffinity({"a": "2", "b": "1"}))
    assert hash(ml.Pod(patch={"hostIPC": True})) == hash(ml.Pod(patch={"hostIPC": True}))


@ml.step(
    pod=ml.Pod(
        affinity=[ml.NodeAffinity("gpu", ["a100"]), ml.PodAffinity({"app": "db"}, anti=True, weight=5)],
        image_pull_secrets=["team"],
        run_as_user=2000,
        shm_size="1Gi",
    )
)
def train(n: int) -> int:
    return n + 1


@ml.step(pod=ml.Pod(run_as_root=False))
def plain(n: int) -> int:
    return n


@ml.pipeline(
    pod=ml.Pod(
        service_account="runner",
        image_pull_secrets=["regcred"],
        affinity=[ml.NodeAffinity("zone", ["a"], weight=10)],
        run_as_user=0,
        run_as_root=True,
        priority_class="batch",
    )
)
def pods(n: int = 1) -> int:
    return plain(n=train(n=n))


def test_pod_settings_reach_the_ir_and_survive_the_json_round_trip() -> None:
    document = pods.build()
    assert document.pipeline.pod is not None and document.pipeline.pod.service_account == "runner"
    assert document.step("train").options.kubernetes.pod == train.spec()[0].options.kubernetes.pod
    again = ir.Document.from_json(document.to_json())
    assert again == document
    assert again.step("train").options.kubernetes.pod.affinity[1] == ml.PodAffinity(  # type: ignore[union-attr]
        {"app": "db"}, anti=True, weight=5
    )


def test_a_step_wins_setting_by_setting_and_lists_add_up() -> None:
    document = pods.build()
    merged = pod_of(document, document.step("train"))
    assert merged is not None
    assert merged.service_account == "runner" and merged.priority_class == "batch"  # the pipeline's
    assert merged.run_as_user == 2000 and merged.shm_size == "1Gi"  # the step's
    assert merged.image_pull_secrets == ("regcred", "team")
    assert [type(a).__name__ for a in merged.affinity] == ["NodeAffinity", "NodeAffinity", "PodAffinity"]
    # The pipeline allows root: train keeps that allowance but chooses user 2000; plain takes root back.
    assert identity_of(merged) == Identity(user=2000, group=0, non_root=False)
    plain_pod = pod_of(document, document.step("plain"))
    assert plain_pod is not None and plain_pod.run_as_user is None
    assert identity_of(plain_pod) == Identity(user=1000, group=1000, non_root=True)


def test_identity_defaults_to_user_1000_and_root_only_when_asked() -> None:
    assert identity_of(None) is None and identity_of(ml.Pod(shm_size="1Gi")) is None
    assert identity_of(ml.Pod(run_as_user=5)) == Identity(5, 1000, True)
    assert identity_of(ml.Pod(run_as_root=True)) == Identity(0, 0, False)


def test_a_setting_the_backend_lacks_is_a_gap_at_the_line_that_set_it() -> None:
    document = pods.build()
    able = Capabilities(
        pod_settings=frozenset({"affinity", "image_pull_secrets", "run_as_user", "run_as_root", "shm_size"}),
        run_pod_settings=frozenset({"service_account"}),
    )
    gaps = check(document, able, "mini")
    assert [(g.message, g.location) for g in gaps] == [
        (
            "pipeline 'pods' sets pod priority_class=, which the mini backend cannot set on a step",
            document.pipeline.location,
        )
    ]
    assert document.pipeline.location is not None
    assert document.pipeline.location.line == _line("@ml.pipeline(", pods.fn)


def test_a_run_only_setting_on_a_step_is_a_gap_that_says_where_it_belongs() -> None:
    @ml.step(pod=ml.Pod(service_account="other"))
    def own(n: int) -> int:
        return n

    @ml.pipeline
    def one(n: int = 1) -> int:
        return own(n=n)

    able = Capabilities(pod_settings=frozenset(), run_pod_settings=frozenset({"service_account"}))
    (gap,) = check(one.build(), able, "mini")
    assert gap.message == (
        "step 'own' sets pod service_account=, which the mini backend cannot set on a step; set it on the "
        "pipeline for the whole run, @ml.pipeline(pod=ml.Pod(service_account=...))"
    )
    assert gap.location is not None and gap.location.line == _line("@ml.step(", own.fn)
    assert check(one.build(), Capabilities(), "all") == []


def test_pod_must_be_an_ml_pod_on_steps_and_pipelines() -> None:
    @ml.step(pod={"service_account": "x"})  # type: ignore[arg-type]
    def loose(n: int) -> int:
        return n

    @ml.pipeline(pod="runner")  # type: ignore[arg-type]
    def wrong(n: int = 1) -> int:
        return loose(n=n)

    with pytest.raises(ValidationError) as info:
        wrong.build()
    text = str(info.value)
    assert "step 'loose': option pod must be ml.Pod(...), not {'service_account': 'x'}" in text
    assert "@ml.pipeline(pod=...) must be ml.Pod(...), not 'runner'" in text


def test_a_sub_pipeline_pod_applies_only_when_it_is_run_itself() -> None:
    @ml.pipeline(pod=ml.Pod(priority_class="low"))
    def inner(n: int = 1) -> int:
        return plain(n=n)

    @ml.pipeline
    def outer(n: int = 1) -> int:
        return inner(n=n)

    assert pod_of(outer.build(), outer.build().step("plain")) == ml.Pod(run_as_root=False)
    assert pod_of(inner.build(), inner.build().step("plain")) == ml.Pod(
        priority_class="low", run_as_root=False
    )
