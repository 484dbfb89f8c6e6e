"""``ir.dump`` against pydantic: the IR is built and written without pydantic, read back with it.

:func:`mlopsdsl.ir.dump` writes the JSON form of IR nodes by walking their dataclass fields; documents read
from outside are validated by pydantic from the same classes. The two must agree on every value, or a
digest, a cache key or a document read back would differ from what pydantic's own serializer gives. These
tests hold ``dump`` to pydantic's ``dump_python(mode="json")`` on every example pipeline and on IR nodes
made at random (hypothesis), with every combination of ``exclude_none`` and ``exclude_defaults``.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

import mlopsdsl as ml
from mlopsdsl import ir
from mlopsdsl._target import load_pipeline

sys.path.insert(0, str(Path(__file__).parent))
from golden import example_files

FLAGS = [(False, False), (True, False), (False, True), (True, True)]


@cache
def adapter(cls: type) -> TypeAdapter[Any]:
    return TypeAdapter(cls)


def pydantic_dump(node: Any, exclude_none: bool, exclude_defaults: bool, exclude: Any = None) -> Any:
    return adapter(type(node)).dump_python(
        node, mode="json", exclude_none=exclude_none, exclude_defaults=exclude_defaults, exclude=exclude
    )


@cache
def example_documents() -> list[tuple[str, ir.Document]]:
    """Every example pipeline and every conformance pipeline, as built and as lowering rewrites them."""
    from mlopsdsl._target import import_target_module, pipelines_in
    from mlopsdsl.lowering import desugar

    found = []
    for path in [*example_files(), Path(__file__).parent / "conformance" / "pipelines.py"]:
        module = import_target_module(str(path))
        for name in pipelines_in(module):
            document = load_pipeline(f"{path}:{name}").build()
            found += [(f"{path.stem}:{name}", document), (f"{path.stem}:{name} lowered", desugar(document))]
    return found


@pytest.mark.parametrize(("exclude_none", "exclude_defaults"), FLAGS)
def test_every_example_document_dumps_as_pydantic_dumps_it(
    exclude_none: bool, exclude_defaults: bool
) -> None:
    documents = example_documents()
    assert len(documents) >= 40
    for label, document in documents:
        ours = ir.dump(document, exclude_none=exclude_none, exclude_defaults=exclude_defaults)
        assert ours == pydantic_dump(document, exclude_none, exclude_defaults), label


def test_digests_leave_out_what_pydantic_would_leave_out() -> None:
    """The digest's ``skip``/``skip_everywhere`` against the nested excludes pydantic takes."""
    without_location = {"__all__": {"location"}}
    pipeline_excludes = {
        "digest": True,
        "description": True,
        "location": True,
        "params": without_location,
        "outputs": without_location,
        "tasks": without_location,
        "groups": without_location,
        "on_exit": {"location"},
    }
    skips = frozenset({"digest", "description", "location"})
    for label, document in example_documents():
        for spec in document.pipelines:
            ours = ir.dump(spec, exclude_defaults=True, skip=skips, skip_everywhere=frozenset({"location"}))
            assert ours == pydantic_dump(spec, False, True, pipeline_excludes), label
        for step in document.steps:
            ours = ir.dump(step, exclude_defaults=True, skip=skips)
            assert ours == pydantic_dump(step, False, True, skips), label


# --------------------------------------------------------------------------- random IR

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)

OPTION_VALUES: dict[type, list[Any]] = {
    ml.Resources: [ml.Resources(), ml.Resources(cpu="500m", memory="1Gi", gpu=1)],
    ml.Retry: [ml.Retry(), ml.Retry(attempts=4, backoff="10s", stop_on=[KeyError])],
    ml.Secret: [ml.Secret(name="db", key="password", env="DB_PASSWORD")],
    ml.Toleration: [ml.Toleration(key="gpu", operator="Exists", effect="NoSchedule")],
    ml.Volume: [ml.Volume(mount_path="/data", pvc="claim", read_only=True)],
    ml.Pod: [
        ml.Pod(),
        ml.Pod(
            service_account="runner",
            affinity=[ml.NodeAffinity(key="zone", values=["a"]), ml.PodAffinity(labels={"app": "x"})],
            patch={"spec": {"hostNetwork": None}},
        ),
    ],
    ml.Schedule: [ml.Schedule("0 3 * * *"), ml.Schedule("@daily", timezone="Europe/Paris", catch_up=True)],
}


KEYS = st.sampled_from(["a", "B_2", "location", "kind"])  # names an env var may have; IR field names too
NESTING = {ir.ListBinding, ir.DictBinding, ir.AllOf, ir.AnyOf, ir.Not}


def strategy(type_: Any, depth: int) -> st.SearchStrategy[Any]:
    """Values of a field type of the IR (not always valid IR: ``dump`` writes whatever it is given)."""
    origin = typing.get_origin(type_)
    args = typing.get_args(type_)
    if origin is typing.Annotated:
        return strategy(args[0], depth)
    if origin is typing.Union or origin is types.UnionType:
        if depth > 2:  # deep enough: no member that holds more of the same
            args = tuple(a for a in args if a not in NESTING) or args
        return st.one_of([strategy(a, depth) for a in args])
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(strategy(args[0], depth + 1), max_size=0 if depth > 2 else 2)
    if origin is tuple:
        return st.lists(strategy(args[0], depth + 1), max_size=2).map(tuple)
    if origin is dict:
        return st.dictionaries(KEYS, strategy(args[1], depth + 1), max_size=0 if depth > 2 else 2)
    if type_ is Any:
        return json_values
    if type_ is type(None):
        return st.none()
    if type_ in OPTION_VALUES:
        return st.sampled_from(OPTION_VALUES[type_])
    if dataclasses.is_dataclass(type_):
        return st.deferred(lambda: node(type_, depth + 1))
    return {
        str: st.text(max_size=8),
        int: st.integers(),
        float: st.floats(allow_nan=False, allow_infinity=False),
        bool: st.booleans(),
    }[type_]


def node(cls: type, depth: int = 0) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {}
    for field in dataclasses.fields(cls):
        values = strategy(hints[field.name], depth)
        if field.default is not dataclasses.MISSING:  # often left at its default, as the IR usually is
            values = st.just(field.default) | values
        fields[field.name] = values
    return st.builds(cls, **fields)


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from([ir.StepSpec, ir.PipelineSpec, ir.Task, ir.Group]).flatmap(node), st.sampled_from(FLAGS)
)
def test_random_ir_nodes_dump_as_pydantic_dumps_them(value: Any, flags: tuple[bool, bool]) -> None:
    exclude_none, exclude_defaults = flags
    assert ir.dump(value, exclude_none=exclude_none, exclude_defaults=exclude_defaults) == pydantic_dump(
        value, exclude_none, exclude_defaults
    )


def test_a_document_read_back_equals_the_one_written() -> None:
    for label, document in example_documents():
        assert ir.Document.from_json(document.to_json()) == document, label
