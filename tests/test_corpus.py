"""The corpus of broken pipelines: every problem is reported, with the user's file, line and words.

Each ``tests/corpus/bad_*.py`` is a small module with steps and one pipeline. A line where a problem must
be reported ends with ``# error: <exact message>`` (several: ``# error: a # error: b``). The header
comments of a file may say

- ``# raises: DefinitionError``: importing the module raises that error at the ``# error:`` line, instead
  of the pipeline reporting problems;
- ``# xfail: <reason>``: the core does not report this right yet (strict: the test fails once it does);
- ``PIPELINE = name`` (Python, not a comment) picks the pipeline to check when a module has several.

Files are found by walking the folder; there is no list to keep. Modules are imported with the working
directory set to the corpus, as a user runs from their project folder, so that paths inside messages
(``the other is at bad_x.py:5``) are the bare file names.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

import mlopsdsl as ml
from mlopsdsl import errors

CORPUS = Path(__file__).parent / "corpus"
ERROR = "# error: "


@dataclass(frozen=True)
class Case:
    path: Path
    expected: frozenset[tuple[str, int, str]]
    raises: str | None
    xfail: str | None


def _comments(path: Path) -> list[tuple[int, str]]:
    with path.open("rb") as f:
        return [
            (tok.start[0], tok.string)
            for tok in tokenize.tokenize(f.readline)
            if tok.type == tokenize.COMMENT
        ]


def _read_case(path: Path) -> Case:
    expected: set[tuple[str, int, str]] = set()
    raises = xfail = None
    for line, comment in _comments(path):
        if comment.startswith(ERROR) or f" {ERROR}" in comment:
            body = comment[comment.index(ERROR) :]
            for message in body.split(f" {ERROR}"):
                expected.add((path.name, line, message.removeprefix(ERROR).strip()))
        elif comment.startswith("# raises:"):
            raises = comment.removeprefix("# raises:").strip()
        elif comment.startswith("# xfail:"):
            xfail = comment.removeprefix("# xfail:").strip()
    return Case(path, frozenset(expected), raises, xfail)


def _discover() -> list[Case]:
    paths = sorted(
        Path(root) / name for root, _, names in os.walk(CORPUS) for name in names if name.endswith(".py")
    )
    return [_read_case(p) for p in paths]


CASES = _discover()


def _params() -> list[object]:
    out = []
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        out.append(pytest.param(case, id=case.path.stem, marks=marks))
    return out


def _load(case: Case) -> object:
    name = f"mlopsdsl_corpus_{case.path.stem}"
    spec = importlib.util.spec_from_file_location(name, case.path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def _pipeline_of(module: object) -> ml.Pipeline:  # type: ignore[type-arg]
    chosen = getattr(module, "PIPELINE", None)
    if chosen is not None:
        assert isinstance(chosen, ml.Pipeline)
        return chosen
    found = [v for v in vars(module).values() if isinstance(v, ml.Pipeline)]
    assert len(found) == 1, f"{module!r} must define exactly one pipeline, or PIPELINE = <the one to check>"
    return found[0]


def _triple(location: errors.Location | None, message: str) -> tuple[str, int, str]:
    assert location is not None, f"no location for {message!r}"
    return (os.path.basename(location.file), location.line, message)


def _format(triples: frozenset[tuple[str, int, str]]) -> str:
    return "\n".join(f"  {f}:{n}: {m}" for f, n, m in sorted(triples))


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 24
    for case in CASES:
        assert case.path.name.startswith("bad_"), case.path
        assert case.expected, f"{case.path.name} declares no `# error:` line"
        if case.raises:
            assert len(case.expected) == 1, f"{case.path.name}: a raising file declares exactly one error"


@pytest.mark.parametrize("case", _params())
def test_corpus(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case.path.parent)
    if case.raises:
        error_type = getattr(ml, case.raises)
        with pytest.raises(error_type) as info:
            _load(case)
        got = frozenset({_triple(info.value.location, info.value.message)})
        assert got == case.expected, f"got:\n{_format(got)}\nexpected:\n{_format(case.expected)}"
        assert str(info.value) == f"{info.value.location}: {info.value.message}"
        assert os.path.samefile(info.value.location.file, case.path)
        return

    pipeline = _pipeline_of(_load(case))
    problems = pipeline.problems()
    triples = [_triple(p.location, p.message) for p in problems]
    got = frozenset(triples)
    assert got == case.expected, f"got:\n{_format(got)}\nexpected:\n{_format(case.expected)}"
    assert len(triples) == len(got), f"a problem is reported twice: {triples}"
    for p in problems:
        assert p.location is not None
        assert os.path.samefile(p.location.file, case.path), "the location must name the user's file"

    with pytest.raises(ml.ValidationError) as info:
        pipeline.build()
    count = len(problems)
    lines = str(info.value).splitlines()
    assert lines[0] == f"{count} problem{'s' if count != 1 else ''} found:"
    assert sorted(lines[1:]) == sorted(f"{p.location}: {p.message}" for p in problems)
    assert len(lines) == count + 1
    assert set(lines[1:]) == {f"{f}:{n}: {m}" for f, n, m in case.expected}
