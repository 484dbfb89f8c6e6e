"""The runtime's tolerant mode (an element of a tolerant map on an engine) and the ``settle`` built-in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlopsdsl.runtime import execute
from mlopsdsl.runtime.builtins import MapFailed, settle


class Unusable(Exception):
    pass


def _spec(tmp_path: Path, attempts: int = 3, **extra: Any) -> dict[str, Any]:
    """A step ``f(x) -> int`` in tolerant mode, its outputs written to files under ``tmp_path``."""
    spec: dict[str, Any] = {
        "version": 1,
        "step": "s",
        "code": {"mode": "import", "module": "m", "qualname": "f"},
        "inputs": [{"name": "x", "kind": "json", "value": 1}],
        "outputs": [
            {"name": "output", "kind": "json", "file": str(tmp_path / "output")},
            {"name": "mlopsdsl-outcome", "kind": "json", "raw": True, "file": str(tmp_path / "outcome")},
        ],
        "returns": "single",
        "tolerant": {"outcome": "mlopsdsl-outcome", "attempts": attempts, "placeholders": {"output": 0}},
    }
    spec.update(extra)
    return spec


def _fails(x: int) -> int:
    raise ValueError(f"no {x}")


def test_a_success_reports_ok_beside_the_steps_own_outputs(tmp_path: Path) -> None:
    record = execute(_spec(tmp_path), function=lambda x: x * 10)
    assert record["ok"] and "tolerated" not in record
    assert record["outputs"]["output"]["value"] == 10
    assert (tmp_path / "outcome").read_text() == "ok" and (tmp_path / "output").read_text() == "10"


@pytest.mark.parametrize(("attempt", "tolerated"), [(1, False), (2, False), (3, True), (None, False)])
def test_only_the_last_attempt_reports_the_failure(
    tmp_path: Path, attempt: int | None, tolerated: bool
) -> None:
    context = {"backend": "argo", "retries": attempt - 1} if attempt is not None else {"backend": "argo"}
    record = execute(_spec(tmp_path, context=context), function=_fails)
    assert record["ok"] is tolerated
    if tolerated:
        assert record["tolerated"]["type"] == "ValueError" and "error" not in record
        assert (tmp_path / "outcome").read_text() == "failed: ValueError: no 1"
        assert (tmp_path / "output").read_text() == "0"  # the placeholder, of the output's type
    else:  # the engine retries it (or, not knowing the attempt, the element fails as in a strict map)
        assert record["error"]["retry"] is True and not (tmp_path / "outcome").exists()


def test_one_attempt_is_always_the_last(tmp_path: Path) -> None:
    assert execute(_spec(tmp_path, attempts=1), function=_fails)["ok"] is True


def test_an_error_retrying_cannot_fix_is_tolerated_at_once(tmp_path: Path) -> None:
    def f(x: int) -> int:
        raise Unusable("never")

    spec = _spec(tmp_path, context={"attempt": 1}, retry={"stop_on": [f"{__name__}.Unusable"]})
    record = execute(spec, function=f)
    assert record["ok"] and record["tolerated"]["retry"] is False
    assert (tmp_path / "outcome").read_text() == "failed: Unusable: never"


def test_the_attempts_count_themselves_where_the_engine_does_not_say(tmp_path: Path) -> None:
    """KFP: one key per task execution, the same for its attempts; a new execution starts at 1."""
    counter = {"root": str(tmp_path / "store"), "key": "run/task/1", "touch": str(tmp_path / "art" / "m")}
    spec = _spec(tmp_path, tolerant={**_spec(tmp_path)["tolerant"], "counter": counter})
    oks = [execute(spec, function=_fails)["ok"] for _ in range(3)]
    assert oks == [False, False, True]
    assert (tmp_path / "art" / "m").is_file()  # the artifact KFP's launcher uploads exists
    other = {**counter, "key": "run/task/2"}
    spec = _spec(tmp_path, tolerant={**_spec(tmp_path)["tolerant"], "counter": other})
    assert execute(spec, function=_fails)["ok"] is False


def test_a_tolerated_failure_is_never_cached(tmp_path: Path) -> None:
    cache = {"step": "digest", "store": str(tmp_path / "cache")}
    assert execute(_spec(tmp_path, attempts=1, cache=cache), function=_fails)["ok"]
    calls: list[int] = []

    def f(x: int) -> int:
        calls.append(x)
        return 5

    record = execute(_spec(tmp_path, attempts=1, cache=cache), function=f)
    assert calls == [1] and record["cache"]["hit"] is False
    again = execute(_spec(tmp_path, attempts=1, cache=cache), function=f)
    assert calls == [1] and again["cache"]["hit"] is True
    assert again["outputs"]["mlopsdsl-outcome"]["value"] == "ok"  # a hit reports its outcome too


def test_a_tolerant_section_must_name_a_json_output(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    spec["tolerant"]["outcome"] = "missing"
    record = execute(spec, function=lambda x: x)
    assert record["error"]["phase"] == "spec" and "tolerant.outcome" in record["error"]["message"]


def test_the_command_line_succeeds_and_logs_a_tolerated_failure(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "rt_tol.py").write_text("def f(x):\n    raise ValueError('broken on purpose')\n")
    spec = _spec(tmp_path, attempts=1, code={"mode": "import", "module": "rt_tol", "qualname": "f"})
    spec["sys_path"] = [str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "mlopsdsl.runtime", "--spec-json", json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0
    assert "its tolerant map leaves this element out" in done.stderr and "broken on purpose" in done.stderr


def test_settle_leaves_the_failed_elements_out_in_input_order(capsys: pytest.CaptureFixture[str]) -> None:
    outcomes = ["ok", "failed: ValueError: no 1", "ok", "failed: KeyError: 'k'"]
    assert settle("t", 0.5, "single", outcomes, value_0=[0, 0, 20, 0]) == [0, 20]
    shown = capsys.readouterr().err
    assert "element 1 failed and is left out: ValueError: no 1" in shown and "element 3" in shown
    fields = settle("t", 0.0, "fields", outcomes, value_0=[1, 2, 3, 4], value_1=["a", "b", "c", "d"])
    assert fields == ([1, 3], ["a", "c"])
    assert settle("t", 0.0, "none", outcomes) is None
    assert settle("t", 1.0, "single", [], value_0=[]) == []


def test_settle_fails_with_the_verdict_of_the_local_runner() -> None:
    from mlopsdsl.lowering import verdict

    outcomes = ["ok", "failed: ValueError: no", "ok", "failed: ValueError: no", "ok"]
    with pytest.raises(MapFailed) as raised:
        settle("odd_fails", 0.9, "single", outcomes, value_0=[0] * 5)
    assert str(raised.value) == verdict("odd_fails", 0.9, 5, [1, 3])
