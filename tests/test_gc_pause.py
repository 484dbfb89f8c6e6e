"""Building and compiling pause the garbage collector, and always give it back as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

import mlopsdsl as ml
from mlopsdsl._gc import paused


@pytest.fixture
def collector() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@ml.step
def inc(x: int) -> int:
    return x + 1


def test_paused_nests_and_restores(collector: None) -> None:
    with paused():
        assert not gc.isenabled()
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()


def test_a_collector_disabled_by_the_caller_stays_disabled(collector: None) -> None:
    gc.disable()
    with paused():
        pass
    assert not gc.isenabled()


def test_build_and_compile_pause_it_and_restore_it_even_on_errors(collector: None) -> None:
    seen: list[bool] = []

    @ml.step
    def watch(x: int) -> int:
        return x

    def body(x: int = 0) -> int:
        seen.append(gc.isenabled())  # the pipeline body runs while the IR is being built
        return watch(x=inc(x=x))

    pipeline = ml.pipeline(name="paused")(body)
    ml.compile(pipeline, backend="ir")
    assert seen == [False] and gc.isenabled()

    def broken(x: int = 0) -> int:
        raise RuntimeError("the body fails")

    with pytest.raises(Exception, match="the body fails"):
        ml.pipeline(name="broken")(broken).build()
    assert gc.isenabled()
