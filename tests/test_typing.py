"""Editors and type checkers see through the decorators: signatures and return types survive."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).parent / "typing" / "sample.py"


@pytest.mark.skipif(
    subprocess.run([sys.executable, "-m", "mypy", "--version"], capture_output=True).returncode != 0,
    reason="mypy is part of the test extra",
)
def test_decorated_functions_keep_their_signatures(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--hide-error-context",
            "--cache-dir",
            str(tmp_path),
            str(SAMPLE),
        ],
        capture_output=True,
        text=True,
    )
    lines = [
        re.sub(r"^.*sample\.py:(\d+): ", r"\1: ", line)
        for line in result.stdout.splitlines()
        if "defined in" not in line
    ]
    text = SAMPLE.read_text().splitlines()

    def at(fragment: str) -> int:
        return next(i for i, line in enumerate(text, 1) if line.startswith(fragment))

    expected = [
        f'{at("reveal_type(load)")}: note: Revealed type is "mlopsdsl._step.Step[[n: int, scale: float =], list[int]]"',
        f'{at("reveal_type(load(3))")}: note: Revealed type is "list[int]"',
        f'{at("reveal_type(split)")}: note: Revealed type is "mlopsdsl._step.Step[[rows: list[int]], tuple[list[int], list[int], fallback=sample.Split]]"',
        f'{at("reveal_type(typed)")}: note: Revealed type is "mlopsdsl._pipeline.Pipeline[[n: int =], list[int]]"',
        f'{at("reveal_type(typed(n=2))")}: note: Revealed type is "list[int]"',
        f'{at("load(n=")}: error: Argument "n" to "__call__" of "Step" has incompatible type "str"; expected "int"  [arg-type]',
        f'{at("load(m=")}: error: Unexpected keyword argument "m" for "__call__" of "Step"  [call-arg]',
        # Misspelled options are caught by the editor too, not only when the module runs.
        f'{at("ml.step(retries=")}: error: Unexpected keyword argument "retries" for overloaded function "step"  [call-overload]',
        f'{at("ml.pipeline(nme=")}: error: Unexpected keyword argument "nme" for overloaded function "pipeline"; did you mean "name"?  [call-overload]',
        f'{at("ml.Retry(attempt=")}: error: Unexpected keyword argument "attempt" for "Retry"; did you mean "attempts"?  [call-arg]',
    ]
    assert sorted(lines) == sorted(expected), result.stdout
