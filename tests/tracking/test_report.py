"""The run report (``mlopsdsl runs show RUN --html``, a ``RunResult`` in a notebook): checked as text, and
rendered by a real headless Chromium whose screenshot must show every status colour of the run."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mlopsdsl as ml
from mlopsdsl.cli import app
from mlopsdsl.local._report import STATUS_COLOURS

sys.path.insert(0, str(Path(__file__).parent))
from rich_pipelines import rich
from tracking_pipelines import mixed


def _mixed_runs(home: Path) -> ml.RunResult:
    """A run with a succeeded, a cached, a failed and a skipped task (the second of two runs)."""
    ml.run(mixed, home=home, progress=False, check=False)
    return ml.run(mixed, home=home, progress=False, check=False)


def _report(home: Path, run_id: str) -> str:
    shown = CliRunner().invoke(app, ["runs", "show", run_id, "--home", str(home), "--html"])
    assert shown.exit_code == 0, shown.output
    return shown.output


def test_report_text(tmp_path: Path) -> None:
    result = _mixed_runs(tmp_path)
    statuses = {s.task: s.status for s in result.steps}
    assert statuses == {"base": "cached", "always": "succeeded", "breaks": "failed", "after": "skipped"}
    page = _report(tmp_path, result.run_id)
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    for status in ("cached", "succeeded", "failed", "skipped"):
        assert f'data-status="{status}"' in page
    assert "no &lt;good&gt; value: 2" in page  # the failed step's error, escaped
    assert "<polyline" in page  # the series of 'curve'
    assert "cache hit (run " in page
    fragment = result._repr_html_()
    assert fragment.startswith('<div class="mlr">') and 'data-status="failed"' in fragment


def test_rich_outputs_are_shown(tmp_path: Path) -> None:
    result = ml.run(rich, home=tmp_path, progress=False)
    page = _report(tmp_path, result.run_id)
    assert "<h3>Results</h3>" in page and "accuracy <b>90%</b>" in page  # the Markdown output
    assert '<iframe sandbox="" srcdoc="&lt;h1&gt;Hello&lt;/h1&gt;">' in page  # the HTML output, sandboxed
    assert "<th>true \\ predicted</th><th>cat</th><th>dog</th>" in page
    assert '<a href="file://' in page


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("MLOPSDSL_REQUIRE_SHARED"):
        pytest.fail("chromium is not installed (apt-get install chromium); .ci/run installs it")
    pytest.skip("chromium is not installed (Debian package chromium)")


def _pixels(png: bytes) -> set[tuple[int, int, int]]:
    """The distinct colours of an 8-bit RGB or RGBA PNG (what Chromium writes), decoded here."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data, width = 8, b"", 0
    channels = 3
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        chunk = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, _height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 4 if colour == 6 else 3
        elif kind == b"IDAT":
            data += chunk
        pos += 12 + length
    raw = zlib.decompress(data)
    stride = width * channels
    previous = bytearray(stride)
    colours: set[tuple[int, int, int]] = set()
    for row in range(len(raw) // (stride + 1)):
        kind, line = (
            raw[row * (stride + 1)],
            bytearray(raw[row * (stride + 1) + 1 : (row + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        colours.update(tuple(line[i : i + 3]) for i in range(0, stride, channels))  # type: ignore[misc]
        previous = line
    return colours


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_chromium_shows_each_status_in_its_colour(tmp_path: Path) -> None:
    browser = _chromium()
    result = _mixed_runs(tmp_path / "home")
    page = tmp_path / "report.html"
    page.write_text(_report(tmp_path / "home", result.run_id))
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-color-profile=srgb",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1000,700",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file(), done.stderr[-2000:]
    colours = _pixels(shot.read_bytes())
    for status in ("succeeded", "cached", "failed", "skipped"):
        assert _rgb(STATUS_COLOURS[status]) in colours, f"{status} ({STATUS_COLOURS[status]}) is not drawn"
    # A colour the run has no task for is not drawn: the check is not vacuous.
    assert _rgb(STATUS_COLOURS["running"]) not in colours
