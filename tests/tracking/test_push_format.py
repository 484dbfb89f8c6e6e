"""The text exposition format the runtime writes, and the checks on a Pushgateway URL."""

from __future__ import annotations

import base64

import pytest

import mlopsdsl as ml
from mlopsdsl.errors import CompileError
from mlopsdsl.runtime import push


def test_exposition_escapes_labels_and_writes_histograms() -> None:
    families = push.step_families(
        seconds=0.3,
        attempts=2,
        failures={"call": 1},
        cache_hit=False,
        bytes_read=10,
        bytes_written=20,
        status="succeeded",
        metrics={'odd "name"\\\n': 1.5},
    )
    text = push.exposition(families)
    assert "# TYPE mlopsdsl_step_duration_seconds histogram\n" in text
    assert 'mlopsdsl_step_duration_seconds_bucket{le="0.25"} 0\n' in text
    assert 'mlopsdsl_step_duration_seconds_bucket{le="0.5"} 1\n' in text
    assert 'mlopsdsl_step_duration_seconds_bucket{le="+Inf"} 1\n' in text
    assert "mlopsdsl_step_duration_seconds_count 1\n" in text
    assert "mlopsdsl_step_retries_total 1\n" in text
    assert 'mlopsdsl_step_failures_total{reason="call"} 1\n' in text
    assert 'mlopsdsl_metric{name="odd \\"name\\"\\\\\\n"} 1.5\n' in text
    assert text.endswith("\n")


def test_group_paths_keep_slashes_and_empty_values() -> None:
    path = push.group_path("p", "", "sub/train[0]")
    parts = path.split("/")
    assert parts[:4] == ["", "metrics", "job", "mlopsdsl"]
    assert parts[6:8] == ["run@base64", "="]  # the empty run id
    assert base64.urlsafe_b64decode(parts[9]).decode() == "sub/train[0]"


@pytest.mark.parametrize("url", ["localhost:9091", "ftp://x", "http://a b", "http://{{x}}", 3])
def test_bad_pushgateway_urls_are_refused_at_compile_time(url: object) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from tracking_pipelines import tracked

    assert push.url_problem(url) is not None
    for backend in ("kfp", "argo"):
        with pytest.raises(CompileError, match="pushgateway="):
            ml.compile(tracked, backend=backend, pushgateway=url)
    assert push.url_problem("http://127.0.0.1:9091") is None


def test_an_unreachable_pushgateway_never_fails_a_run(tmp_path: object) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from tracking_pipelines import tracked

    result = ml.run(tracked, home=str(tmp_path), progress=False, pushgateway="http://127.0.0.1:9")
    assert result.ok
