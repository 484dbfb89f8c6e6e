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


def test_objects_made_while_paused_join_the_oldest_generation_and_cycles_are_still_collected(
    collector: None,
) -> None:
    import weakref

    class Node:
        pass

    with paused():
        a, b = Node(), Node()
        a.other, b.other = b, a  # type: ignore[attr-defined]
        gone = weakref.ref(a)
    assert gc.get_freeze_count() == 0  # nothing left frozen
    assert any(o is a for o in gc.get_objects(generation=2))  # promoted unexamined
    del a, b
    assert gone() is not None  # a young-generation collection does not look at it
    gc.collect(0)
    assert gone() is not None
    gc.collect()
    assert gone() is None  # the next full collection does


def test_objects_someone_else_froze_stay_frozen(collector: None) -> None:
    class Node:
        pass

    shared = Node()  # what a fork server froze for its children
    gc.freeze()
    try:
        assert not any(o is shared for o in gc.get_objects())  # frozen: in no generation the collector walks
        with paused():
            pass
        # Still frozen. (The freeze count is no witness: a frozen object freed meanwhile lowers it.)
        assert not any(o is shared for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(o is shared for o in gc.get_objects())
