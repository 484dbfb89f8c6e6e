"""Progress: a live table on a terminal, plain lines elsewhere, nothing when asked for silence."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from rich.live import Live as RichLive

import mlopsdsl as ml
from mlopsdsl.local import _progress

PIPELINE = """
import mlopsdsl as ml

@ml.step
def one() -> int:
    return 1

@ml.step
def fails(x: int) -> int:
    raise ValueError("no")

@ml.pipeline
def p() -> int:
    x = one()
    fails(x=x)
    return x
"""


def _live_to(buffer: io.StringIO) -> _progress.Live:
    live = _progress.Live()
    live.console = Console(file=buffer, force_terminal=True, width=100, color_system=None)
    live._live = RichLive(console=live.console, refresh_per_second=8, transient=False)
    return live


def test_the_live_table_shows_each_step_and_how_it_ended(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(PIPELINE, name="progressmod")
    buffer = io.StringIO()
    result = ml.run(mod.p, home=tmp_path, progress=_live_to(buffer), check=False, in_process=True)
    screen = buffer.getvalue()
    assert not result.ok
    assert "running p (" in screen and "failed in" in screen  # the title, once the run ended
    final = screen[screen.rindex("running p (") :]  # the last frame drawn
    assert "one" in final and "succeeded" in final
    assert "fails" in final and "failed" in final and "ValueError: no" in final


def test_plain_lines_when_not_a_terminal(
    tmp_path: Path, user_module, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(PIPELINE, name="progressmod2")
    assert isinstance(_progress.choose(None), _progress.Plain)  # pytest's stderr is not a terminal
    ml.run(mod.p, home=tmp_path, check=False, in_process=True)
    err = capsys.readouterr().err
    assert "one: succeeded in" in err and "fails: failed" in err and "ValueError: no" in err
    ml.run(mod.p, home=tmp_path / "quiet", check=False, in_process=True, progress=False)
    assert capsys.readouterr().err == ""
