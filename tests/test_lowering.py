"""The lowering layer: desugaring into built-in tasks, and backend capabilities reported at the user's line.

Behaviour on every path is proven by the conformance suite (gathers, a field of a map's results, conditions
on stored values); these tests pin what the layer itself promises: documents that need nothing come back
untouched, the rewrite is deterministic and valid, and a gap is one located problem, the same from
``validate --backend`` and ``compile``, with nothing written.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mlopsdsl as ml
from mlopsdsl import backends, ir, lowering
from mlopsdsl.validate import validate

STORED_MAP = """
import mlopsdsl as ml


@ml.step
def make(n: int) -> ml.Dataset:
    data = ml.Dataset.new()
    open(data.path, "w").write("x" * n)
    return data


@ml.step
def size(d: ml.Dataset) -> int:
    return len(open(d.path).read())


@ml.step
def total(xs: list[int]) -> int:
    return sum(xs)


@ml.pipeline
def sizes(ns: list[int] = [1, 2, 3]) -> int:
    parts = make.map(n=ns)
    return total(xs=size.map(d=parts))
"""

ARTIFACT_LIST = """
import mlopsdsl as ml


@ml.step
def make(n: int) -> ml.Dataset:
    data = ml.Dataset.new()
    open(data.path, "w").write("x" * n)
    return data


@ml.step
def merge(parts: list[ml.Dataset]) -> int:
    return sum(len(open(p.path).read()) for p in parts)


@ml.pipeline
def merged(n: int = 2) -> int:
    return merge(parts=[make(n=n), make(n=1)])
"""

TOLERANT_MAP = """
import mlopsdsl as ml

@ml.step
def half(x: int) -> int:
    return x // 2

@ml.pipeline
def halves(xs: list[int] = [1, 2]) -> list[int]:
    return half.map(x=xs, allow_failures=True)
"""

TOLERANT_STORED = """
import mlopsdsl as ml


@ml.step
def make(n: int) -> ml.Dataset:
    data = ml.Dataset.new()
    open(data.path, "w").write("x" * n)
    return data


@ml.step
def count(parts: list[ml.Dataset]) -> int:
    return len(parts)


@ml.pipeline
def made(ns: list[int] = [1, 2]) -> int:
    return count(parts=make.map(n=ns, allow_failures=True))
"""

TOLERANT_AND_STRICT = """
import mlopsdsl as ml


@ml.step(retry=ml.Retry(attempts=2))
def half(x: int) -> int:
    return x // 2


@ml.step
def total(xs: list[int], one: int) -> int:
    return sum(xs) + one


@ml.pipeline
def halves(xs: list[int] = [1, 2]) -> int:
    return total(xs=half.map(x=xs, min_success=0.5), one=half(x=4))
"""

GATHER = """
import dataclasses
import mlopsdsl as ml


class Weights:
    def __init__(self, n: int) -> None:
        self.n = n


@dataclasses.dataclass
class Model:
    weights: Weights
    accuracy: float


@ml.step
def one(x: int) -> int:
    return x


@ml.step
def fit(x: int) -> Model:
    return Model(Weights(x), x / 10)


@ml.step
def total(xs: list[int]) -> int:
    return sum(xs)


@ml.pipeline
def gathered(x: int = 1) -> int:
    model = fit(x=x)
    with ml.when(model.accuracy > 0.5):
        big = total(xs=[one(x=x), one(x=2), 3])
    with ml.otherwise():
        small = one(x=0)
    return ml.one_of(big, small)
"""


def test_a_document_that_needs_nothing_comes_back_untouched(user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(STORED_MAP, "plain_lowering")
    document = mod.sizes.build()
    assert lowering.desugar(document) is document


def test_gathers_and_stored_conditions_become_builtin_tasks(user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(GATHER, "gather_lowering")
    document = mod.gathered.build()
    lowered = lowering.desugar(document)
    root = lowered.pipeline
    ids = [t.id for t in root.tasks]
    assert ids.index("decide-when-1") < ids.index("one")  # the decision comes before its block
    decide = root.task("decide-when-1")
    assert decide.group is None and lowered.step(decide.callee).code.module == lowering.BUILTINS
    gather = root.task("gather")
    assert gather.group == "when-1" and ids.index("gather") < ids.index("total")
    assert root.task("total").inputs["xs"] == ir.TaskOutputBinding(task="gather", output="output")
    groups = {g.id: g for g in root.groups}
    assert groups["when-1"].condition == ir.Compare(
        op="==",
        left=ir.TaskOutputBinding(task="decide-when-1", output="output"),
        right=ir.ConstantBinding(value=True),
    )
    assert groups["otherwise-1"].condition == ir.Not(condition=groups["when-1"].condition)
    # The result is a valid document, and the same every time.
    assert validate(lowered) == []
    assert lowering.desugar(document).to_json() == lowered.to_json()
    # The runner keeps written lists for itself, but decides stored conditions by the same task.
    local = lowering.desugar(document, gather=False)
    assert "gather" not in [t.id for t in local.pipeline.tasks]
    assert "decide-when-1" in [t.id for t in local.pipeline.tasks]


ONE_OF_READER = """
import dataclasses
import mlopsdsl as ml


class Weights:
    pass


@dataclasses.dataclass
class Held:
    weights: Weights
    value: int


@ml.step
def inc(x: int) -> int:
    return x + 1


@ml.step
def held(x: int) -> Held:
    return Held(Weights(), x)


@ml.pipeline
def chosen(seed: int = 0) -> int:
    with ml.when(seed > 0):
        yes = inc(x=seed)
    with ml.otherwise():
        no = inc(x=seed)
    kept = held(x=ml.one_of(yes, no))
    with ml.when(kept.value > 0):
        big = inc(x=1)
    with ml.otherwise():
        small = inc(x=2)
    return ml.one_of(big, small)
"""


def test_desugared_tasks_come_after_the_branches_they_read(user_module, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A decision moved before its block pulls its inputs' producers with it, branches of a one_of too."""
    mod = user_module(ONE_OF_READER, "one_of_reader")
    ids = [t.id for t in lowering.desugar(mod.chosen.build()).pipeline.tasks]
    assert ids.index("inc") < ids.index("held") and ids.index("inc-2") < ids.index("held")
    assert ml.run(mod.chosen, home=tmp_path, progress=False).outputs["output"] == 2


def test_the_local_runner_runs_what_kubernetes_backends_cannot(user_module, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(STORED_MAP, "stored_map_local")
    result = ml.run(mod.sizes, home=tmp_path, progress=False)
    assert result.outputs["output"] == 6


def _remote_backends() -> list[str]:
    names = [b.name for b in backends.available()]
    return [n for n in names if lowering.capabilities_of(backends.load(n)) != lowering.ALL]


def _gaps() -> list[tuple[str, str, str, str]]:
    """(backend, source, the text of the line refused, the start of the message) for each declared gap."""
    found = []
    for name in _remote_backends():
        able = lowering.capabilities_of(backends.load(name))
        if not able.gather_artifacts:
            found.append(
                (name, ARTIFACT_LIST, "merge(parts=", "input 'parts' of task 'merge' is a written list")
            )
        if not able.map_over_stored_results:
            found.append((name, STORED_MAP, "size.map", "task 'size' maps over stored values (Dataset)"))
        if not able.tolerant_maps:
            found.append((name, TOLERANT_MAP, "half.map", "task 'half' is a tolerant map"))
        if not able.tolerant_stored_outputs:
            found.append((name, TOLERANT_STORED, "make.map", "task 'make' is a tolerant map"))
    return found


@pytest.mark.parametrize(("backend", "source", "marker", "message"), _gaps())
def test_a_capability_gap_is_one_located_problem_before_anything_is_written(
    backend: str, source: str, marker: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "stored_map.py"
    path.write_text(textwrap.dedent(source))
    line = next(i for i, text in enumerate(textwrap.dedent(source).splitlines(), 1) if marker in text)
    out = tmp_path / "out.yaml"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(sys.executable).parent / "mlopsdsl"), *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )

    validated = cli("validate", "stored_map.py", "--backend", backend)
    compiled = cli("compile", "stored_map.py", "--backend", backend, "-o", str(out))
    for done in (validated, compiled):
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
    first = validated.stderr.splitlines()[0]
    assert first.startswith(f"stored_map.py:{line}: {message}") and f"the {backend} backend" in first
    assert compiled.stderr == validated.stderr
    assert not out.exists() and [p for p in tmp_path.iterdir() if p.name != "__pycache__"] == [path]


@pytest.mark.parametrize(
    ("min_success", "total", "needed"),
    [(0.0, 5, 0), (0.5, 5, 3), (0.9, 5, 5), (0.3, 10, 3), (0.8, 10, 8), (1.0, 4, 4), (0.5, 0, 0)],
)
def test_a_tolerant_map_needs_the_fraction_rounded_up(min_success: float, total: int, needed: int) -> None:
    from mlopsdsl.lowering._maps import needed as needed_of

    assert needed_of(min_success, total) == needed
    failed = list(range(total - needed))
    assert lowering.verdict("t", min_success, total, failed) is None
    if needed:
        message = lowering.verdict("t", min_success, total, [*failed, total - 1])
        assert message is not None and f"needs {needed}" in message


def test_a_tolerant_map_becomes_an_ordinary_map_and_a_settle_task(user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(TOLERANT_MAP, "tolerant_map_lowered")
    doc = lowering.desugar(mod.halves.build())
    tasks = {t.id: t for t in doc.pipeline.tasks}
    assert list(tasks) == ["half-elements", "half"]
    elements, settle = tasks["half-elements"], tasks["half"]
    assert elements.step == "half" and elements.map is not None and elements.map.min_success is None
    step = doc.step("half")  # every call of it is tolerant: it runs tolerant under its own name
    assert lowering.is_tolerant(step) and [o.name for o in step.outputs] == ["output", lowering.OUTCOME]
    assert lowering.tolerant_section(step) == {
        "outcome": lowering.OUTCOME, "attempts": 1, "placeholders": {"output": 0}
    }  # fmt: skip
    assert settle.step is not None and lowering.is_builtin(doc.step(settle.step))
    assert settle.inputs["outcomes"] == ir.TaskOutputBinding(task="half-elements", output=lowering.OUTCOME)
    assert settle.inputs["min_success"] == ir.ConstantBinding(value=0.0)
    # The pipeline's output still reads task "half", now the settle task, whose output is the list.
    assert doc.pipeline.outputs[0].source == ir.TaskOutputBinding(task="half", output="output")
    assert [o.type for o in doc.step(settle.step).outputs] == [
        ir.TypeSpec(kind="list", items=ir.TypeSpec(kind="int"))
    ]
    assert validate(doc) == []
    assert (
        lowering.desugar(mod.halves.build(), settle=False).pipeline.tasks == mod.halves.build().pipeline.tasks
    )


def test_a_step_also_called_strictly_is_copied_for_its_tolerant_map(user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(TOLERANT_AND_STRICT, "tolerant_and_strict_lowered")
    doc = lowering.desugar(mod.halves.build())
    by_id = {t.id: t for t in doc.pipeline.tasks}
    assert by_id["half-elements"].step == "half-tolerant" and by_id["half-2"].step == "half"
    assert not lowering.is_tolerant(doc.step("half"))
    copy = doc.step("half-tolerant")
    assert lowering.function_name(copy) == "half" and copy.digest != doc.step("half").digest
    section = lowering.tolerant_section(copy)
    assert section is not None and section["attempts"] == 2


@pytest.mark.parametrize(
    ("kind", "value"),
    [("str", ""), ("int", 0), ("float", 0.0), ("bool", False), ("list", []), ("dict", {}), ("json", None),
     ("optional", None), ("dataclass", {})],
)  # fmt: skip
def test_placeholders_are_values_of_the_outputs_type(kind: str, value: object) -> None:
    from mlopsdsl.lowering._maps import placeholder

    assert placeholder(ir.TypeSpec(kind=kind)) == value  # type: ignore[arg-type]
    assert placeholder(ir.TypeSpec(kind="enum", values=["low", "high"])) == "low"
