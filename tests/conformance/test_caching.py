"""Caching with one meaning, proven on every path: the local runner, and the KFP and Argo documents run by
``mlopsdsl.testing``'s emulators (compiled with ``cache_root``, so the step runtime caches in the pods).

Every step writes its name to a log when it really runs (all paths run steps as processes on this
machine), so these tests count executions, not what a path says about itself. A sequence of runs shares
one cache per path; between runs the pipeline's source changes as a user would edit it:

1. the first run computes everything, identical calls in it once;
2. the same run again recomputes nothing but the ``cache=False`` step;
3. a helper rewritten with the same results recomputes the steps that call it, and nothing downstream
   (their outputs have the same value, or the same bytes: the key is the content, not where it is);
4. a helper changed to give other results recomputes its callers and what their outputs reach;
5. a run without the cache (``--no-cache``) recomputes everything, identical calls each;
6. and after it, nothing is recomputed again.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import mlopsdsl as ml

SOURCE = """
from pathlib import Path
import mlopsdsl as ml


def helper(x):
    return x + 1


def mark(folder, name):
    with open(Path(folder) / "ran.log", "a") as log:
        log.write(name + "\\n")


@ml.step
def work(folder: str, x: int) -> int:
    mark(folder, "work")
    return helper(x)


@ml.step
def box(folder: str, n: int) -> ml.Artifact:
    mark(folder, "box")
    out = ml.Artifact.new("box.txt")
    Path(out.path).write_text("x" * helper(n))
    return out


@ml.step
def size(folder: str, a: ml.Artifact) -> int:
    mark(folder, "size")
    return len(Path(a.path).read_text())


@ml.step
def combine(folder: str, a: int, b: int) -> int:
    mark(folder, "combine")
    return a + b


@ml.step(cache=False)
def stamp(folder: str, x: int) -> int:
    mark(folder, "stamp")
    return x


@ml.pipeline
def cached(folder: str, x: int = 1) -> tuple[int, int]:
    pair = combine(folder=folder, a=work(folder=folder, x=x), b=work(folder=folder, x=x))
    total = combine(folder=folder, a=pair, b=size(folder=folder, a=box(folder=folder, n=x)))
    return total, stamp(folder=folder, x=x)
"""

SAME_RESULTS = SOURCE.replace("return x + 1", "return 1 + x")
OTHER_RESULTS = SOURCE.replace("return x + 1", "return x + 2")
STEPS = ("work", "box", "size", "combine", "stamp")


@dataclass
class Ran:
    outputs: dict[str, Any]
    executed: Counter[str]
    """Step name -> how many times it really ran (from the steps' own log)."""
    reused: Counter[str]
    """Step name -> how many of its tasks the path reports as reused from a cache."""


def _step(task: str) -> str:
    """``work-2`` -> ``work``; ``condition-1/work`` -> ``work``."""
    return re.sub(r"-\d+$", "", task.rsplit("/", 1)[-1])


class Local:
    def __init__(self, root: Path) -> None:
        self.home = root / "home"

    def run(self, module: ModuleType, folder: Path, cache: bool) -> tuple[dict[str, Any], list[str]]:
        result = ml.run(module.cached, folder=str(folder), home=self.home, progress=False, cache=cache)
        assert result.ok
        return dict(result.outputs), [s.task for s in result.steps if s.cache_hit]


class Emulated:
    def __init__(self, root: Path, backend: str) -> None:
        self.backend = backend
        self.workdir = root / backend
        self.cache_root = root / f"{backend}-cache"

    def run(self, module: ModuleType, folder: Path, cache: bool) -> tuple[dict[str, Any], list[str]]:
        from mlopsdsl import backends
        from mlopsdsl.testing import run_argo, run_kfp

        text = ml.compile(module.cached, backend=self.backend, cache_root=str(self.cache_root), cache=cache)
        chosen = backends.load(self.backend)
        assert isinstance(chosen, backends.Validates) and chosen.validate_compiled(text) == []
        runner = run_kfp if self.backend == "kfp" else run_argo
        result = runner(text, {"folder": str(folder)}, workdir=self.workdir)
        assert result.succeeded, result.logs
        return dict(result.outputs), list(result.cached)


def _path(name: str, root: Path) -> Local | Emulated:
    return Local(root) if name == "local" else Emulated(root, name)


def _run(path: Local | Emulated, module: ModuleType, folder: Path, cache: bool = True) -> Ran:
    log = folder / "ran.log"
    log.unlink(missing_ok=True)
    outputs, reused = path.run(module, folder, cache)
    executed = Counter(log.read_text().split()) if log.exists() else Counter()
    return Ran(outputs, executed, Counter(_step(t) for t in reused if _step(t) in STEPS))


def _all(**counts: int) -> Counter[str]:
    return Counter({name: counts.get(name, 1) for name in STEPS})


@pytest.mark.parametrize("name", ["local", "kfp", "argo"])
def test_one_cache_rule_on_every_path(name: str, tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    path = _path(name, tmp_path)
    folder = tmp_path / "marks"
    folder.mkdir()
    module = f"cachecase_{name}"

    v1 = user_module(SOURCE, name=module)
    first = _run(path, v1, folder)
    assert first.outputs == {"output_0": 6, "output_1": 1}
    assert first.executed == _all(combine=2)  # two identical calls of work: computed once
    assert first.reused == Counter({"work": 1})

    again = _run(path, v1, folder)
    assert again.outputs == first.outputs
    assert again.executed == Counter({"stamp": 1})  # only the cache=False step
    assert again.reused == Counter({"work": 2, "box": 1, "size": 1, "combine": 2})

    v2 = user_module(SAME_RESULTS, name=module)
    rewritten = _run(path, v2, folder)
    assert rewritten.outputs == first.outputs
    # The helper's callers run again; size gets the same bytes and combine the same values: reused.
    assert rewritten.executed == Counter({"work": 1, "box": 1, "stamp": 1})
    assert rewritten.reused == Counter({"work": 1, "size": 1, "combine": 2})

    v3 = user_module(OTHER_RESULTS, name=module)
    changed = _run(path, v3, folder)
    assert changed.outputs == {"output_0": 9, "output_1": 1}
    assert changed.executed == _all(combine=2)
    assert changed.reused == Counter({"work": 1})

    uncached = _run(path, v3, folder, cache=False)
    assert uncached.outputs == changed.outputs
    assert uncached.executed == _all(work=2, combine=2)  # no cache: identical calls run each
    assert uncached.reused == Counter()

    after = _run(path, v3, folder)
    assert after.executed == Counter({"stamp": 1})


def test_kfp_without_cache_root_reuses_what_kfp_keys_alike(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    """Without ``cache_root`` only KFP's own cache applies. It keys stored inputs by the artifact's identity,
    not its bytes: after a producer runs again, its consumers run again even when the bytes are equal."""
    from mlopsdsl.testing import run_kfp

    folder = tmp_path / "marks"
    folder.mkdir()
    workdir = tmp_path / "kfp"

    def run(module: ModuleType, **options: Any) -> Ran:
        (folder / "ran.log").unlink(missing_ok=True)
        text = ml.compile(module.cached, backend="kfp", **options)
        result = run_kfp(text, {"folder": str(folder)}, workdir=workdir)
        assert result.succeeded, result.logs
        log = folder / "ran.log"
        executed = Counter(log.read_text().split()) if log.exists() else Counter()
        return Ran(result.outputs, executed, Counter(_step(t) for t in result.cached if _step(t) in STEPS))

    v1 = user_module(SOURCE, name="kfpnative")
    assert run(v1).executed == _all(combine=2)
    again = run(v1)
    assert again.executed == Counter({"stamp": 1})
    assert set(again.reused) == {"work", "box", "size", "combine"}
    v2 = user_module(SAME_RESULTS, name="kfpnative")
    assert run(v2).executed == Counter({"work": 1, "box": 1, "size": 1, "stamp": 1})  # size: a new artifact
    assert run(v2, cache=False).executed == _all(work=2, combine=2)


def test_argo_without_cache_root_runs_every_step(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    """Argo has no cache that mlopsdsl uses: without ``cache_root`` every step runs every time."""
    from mlopsdsl.testing import run_argo

    folder = tmp_path / "marks"
    folder.mkdir()
    text = ml.compile(user_module(SOURCE, name="argonone").cached, backend="argo")
    for _ in range(2):
        (folder / "ran.log").unlink(missing_ok=True)
        result = run_argo(text, {"folder": str(folder)}, workdir=tmp_path / "argo")
        assert result.succeeded and result.cached == {}
        assert Counter((folder / "ran.log").read_text().split()) == _all(work=2, combine=2)


CONTROLS = """
from pathlib import Path
import mlopsdsl as ml


def mark(folder, name):
    with open(Path(folder) / "ran.log", "a") as log:
        log.write(name + "\\n")


@ml.step(cache_ignore=["seed"])
def noisy(folder: str, x: int, seed: int) -> int:
    mark(folder, "noisy")
    return x * 10


@ml.step(cache_max_age="1h")
def perishable(folder: str, x: int) -> int:
    mark(folder, "perishable")
    return x + 100


@ml.pipeline
def controls(folder: str, x: int = 1, seed: int = 0) -> tuple[int, int]:
    return noisy(folder=folder, x=x, seed=seed), perishable(folder=folder, x=x)
"""


def _age_entries(root: Path, seconds: float) -> int:
    """Make every cache entry under ``root`` look ``seconds`` older (instead of waiting that long), sealed
    again as the runtime would (an edit without a new seal is damage, and damage is a miss)."""
    import json

    from mlopsdsl.runtime._seal import seal

    aged = 0
    for path in root.rglob("*.json"):
        entry = json.loads(path.read_text())
        if isinstance(entry, dict) and "created" in entry and "outputs" in entry:
            entry["created"] -= seconds
            path.write_text(json.dumps(seal(entry, None)))
            aged += 1
    return aged


@pytest.mark.parametrize("name", ["local", "kfp", "argo"])
def test_cache_ignore_and_max_age_mean_the_same_on_every_path(name: str, tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    from mlopsdsl import backends
    from mlopsdsl.testing import run_argo, run_kfp

    module = user_module(CONTROLS, name=f"controls_{name}")
    folder = tmp_path / "marks"
    folder.mkdir()
    home, cache_root = tmp_path / "home", tmp_path / "cache"

    def run(**params: int) -> tuple[dict[str, Any], Counter[str]]:
        (folder / "ran.log").unlink(missing_ok=True)
        if name == "local":
            result = ml.run(module.controls, folder=str(folder), home=home, progress=False, **params)
            assert result.ok
            outputs = dict(result.outputs)
        else:
            text = ml.compile(module.controls, backend=name, cache_root=str(cache_root))
            assert backends.load(name).validate_compiled(text) == []  # type: ignore[attr-defined]
            runner = run_kfp if name == "kfp" else run_argo
            emulated = runner(text, {"folder": str(folder), **params}, workdir=tmp_path / name)
            assert emulated.succeeded, emulated.logs
            outputs = dict(emulated.outputs)
        log = folder / "ran.log"
        return outputs, Counter(log.read_text().split()) if log.exists() else Counter()

    assert run(seed=0) == ({"output_0": 10, "output_1": 101}, Counter({"noisy": 1, "perishable": 1}))
    # Another seed: noisy's key leaves it out, so both results are reused.
    assert run(seed=5) == ({"output_0": 10, "output_1": 101}, Counter())
    # Two hours later: perishable's result is older than its hour; noisy's has no age limit.
    assert _age_entries(home / "cache" if name == "local" else cache_root, 7200) >= 2
    assert run(seed=5) == ({"output_0": 10, "output_1": 101}, Counter({"perishable": 1}))
    assert run(seed=5)[1] == Counter()  # the fresh result is reused again
    assert run(x=2, seed=5)[1] == Counter({"noisy": 1, "perishable": 1})  # an input that counts


TOLERANT = """
from pathlib import Path
import mlopsdsl as ml


@ml.step
def flaky(folder: str, x: int) -> int:
    with open(Path(folder) / "ran.log", "a") as log:
        log.write(f"flaky-{x}\\n")
    if (Path(folder) / f"broken-{x}").exists():
        raise RuntimeError(f"element {x} is broken for now")
    return x * 10


@ml.step
def joined(values: list[int]) -> str:
    return ",".join(str(v) for v in values)


@ml.pipeline
def tolerant(folder: str, xs: list[int] = [0, 1, 2]) -> str:
    return joined(values=flaky.map(folder=folder, x=xs, allow_failures=True))
"""


@pytest.mark.parametrize(
    ("name", "cache_root"), [("local", True), ("kfp", True), ("kfp", False), ("argo", True)]
)
def test_a_tolerated_failure_is_never_reused_as_a_success(
    name: str, cache_root: bool, tmp_path: Path, user_module
) -> None:  # type: ignore[no-untyped-def]
    """An element that failed and was left out runs again in the next run (and succeeds once it can); the
    elements that succeeded are reused (with ``cache_root`` on an engine: KFP's own cache is off for a
    tolerant map's elements, since their tolerated failures are pods that succeeded)."""
    from mlopsdsl.testing import run_argo, run_kfp

    module = user_module(TOLERANT, name=f"tolerant_cache_{name}_{cache_root}")
    folder = tmp_path / "marks"
    folder.mkdir()
    (folder / "broken-1").touch()

    def run() -> tuple[str, list[str]]:
        (folder / "ran.log").unlink(missing_ok=True)
        if name == "local":
            result = ml.run(module.tolerant, folder=str(folder), home=tmp_path / "home", progress=False)
            assert result.ok
            output = result.outputs["output"]
        else:
            options = {"cache_root": str(tmp_path / "cache")} if cache_root else {}
            text = ml.compile(module.tolerant, backend=name, **options)
            runner = run_kfp if name == "kfp" else run_argo
            emulated = runner(text, {"folder": str(folder)}, workdir=tmp_path / name)
            assert emulated.succeeded, emulated.logs
            output = emulated.outputs["output"]
        log = folder / "ran.log"
        return output, sorted(log.read_text().split()) if log.exists() else []

    assert run() == ("0,20", ["flaky-0", "flaky-1", "flaky-2"])
    (folder / "broken-1").unlink()
    reused = ["flaky-1"] if cache_root else ["flaky-0", "flaky-1", "flaky-2"]
    assert run() == ("0,10,20", reused)
    assert run() == ("0,10,20", [] if cache_root else reused)
