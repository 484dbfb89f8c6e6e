"""What a step needs from its image, and the problems `compile` and `validate --backend` report about it."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import textwrap
from pathlib import Path

import image_pipelines as ip
import pytest
import yaml
from typer.testing import CliRunner

import mlopsdsl as ml
from mlopsdsl import images
from mlopsdsl.cli import app
from mlopsdsl.errors import ValidationError

PIPELINES = str(Path(ip.__file__))
PYTHON = images.compiling_python()
runner = CliRunner()


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def line_of(fn: object) -> int:
    """The line a step's location points at: its decorator's."""
    return inspect.getsourcelines(getattr(fn, "fn", fn))[1]


def shown(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def test_needs_follow_helpers_types_and_local_imports() -> None:
    needs = images.needs_of(ip.frames.build(), ip.frames.step_functions())
    assert set(needs["make"].direct) == {"numpy", "pandas", "pyarrow"}  # numpy through _doubled
    assert set(needs["total"].direct) == {"pandas", "pyarrow"}  # through its input's type only
    assert set(needs["spread"].direct) == {"numpy"}  # `import numpy` in its body
    assert needs["label"].direct == {}  # json is the standard library
    from importlib.metadata import version

    assert needs["make"].direct["pandas"] == version("pandas")


def test_a_module_nothing_provides_is_a_note_not_an_error(user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(
        """
        import mlopsdsl as ml

        @ml.step
        def maybe(x: int) -> int:
            try:
                import not_installed_anywhere  # noqa: F401
            except ImportError:
                pass
            return x

        @ml.pipeline
        def p(x: int = 1) -> int:
            return maybe(x=x)
        """
    )
    notes: list[str] = []
    from mlopsdsl import backends

    backends.compile_document(
        backends.load("kfp"), mod.p.build(), notes=notes, functions=mod.p.step_functions()
    )
    assert len(notes) == 1 and "not_installed_anywhere, which is not installed here" in notes[0]


def test_validate_reports_each_step_at_its_line() -> None:
    code, out, err = cli("validate", PIPELINES + ":frames", "--backend", "kfp")
    assert code == 2, out
    where = shown(PIPELINES)
    lines = err.splitlines()
    make = next(line for line in lines if "step 'make'" in line)
    assert make.startswith(f"{where}:{line_of(ip.make)}: step 'make' needs numpy ")
    assert f"which its image python:{PYTHON}-slim does not have" in make
    assert 'packages=["numpy==' in make and "mlopsdsl build" in make
    assert any(line.startswith(f"{where}:{line_of(ip.total)}: step 'total' needs pandas") for line in lines)
    assert any(line.startswith(f"{where}:{line_of(ip.spread)}: step 'spread' needs numpy") for line in lines)
    assert not any("'label'" in line for line in lines)
    assert lines[-1] == "error: 3 problems found"


def test_compile_refuses_the_same_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "frames.yaml"
    code, _, err = cli("compile", PIPELINES + ":frames", "--backend", "argo", "-o", str(out))
    assert code == 2 and "step 'make' needs numpy" in err
    assert not out.exists()
    with pytest.raises(ValidationError) as caught:
        ml.compile(ip.frames, backend="kfp")
    assert {p.code for p in caught.value.problems} == {"missing-distribution"}


def test_packages_cover_what_they_list_and_what_that_requires() -> None:
    assert (
        images.check(
            ip.declared_pipeline.build(), ip.declared_pipeline.step_functions(), image=None, code="value"
        )[0]
        == []
    )
    doc = ip.frames.build()
    # pandas requires numpy, so packages=["pandas", "pyarrow"] covers make's numpy too.
    steps = [
        dataclasses.replace(s, options=dataclasses.replace(s.options, packages=["pandas", "pyarrow"]))
        for s in doc.steps
    ]
    problems, _ = images.check(
        dataclasses.replace(doc, steps=steps), ip.frames.step_functions(), image=None, code="value"
    )
    assert problems == []


def test_python_minor_of_a_stock_image_must_match_for_by_value_code() -> None:
    other = "3.10" if PYTHON != "3.10" else "3.12"
    code, _, err = cli("validate", PIPELINES + ":declared", "-b", "argo", "-O", f"image=python:{other}-slim")
    assert code == 2
    assert (
        f"step 'declared' ships its code by value from Python {PYTHON}, but its image python:{other}-slim runs Python {other}"
        in err
    )
    # shipped by import, the minor does not matter (the image's Python imports the code)
    code, _, err = cli(
        "validate",
        PIPELINES + ":declared",
        "-b",
        "argo",
        "-O",
        f"image=python:{other}-slim",
        "-O",
        "code=import",
    )
    assert code == 0, err


def test_an_image_of_the_users_is_trusted_with_a_note() -> None:
    code, out, err = cli("validate", PIPELINES + ":frames", "-b", "kfp", "-O", "image=registry.example/ml:7")
    assert code == 0, err
    assert out.startswith("ok: pipeline 'frames'")
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 3  # make, total, spread; label needs nothing
    assert "step 'make' runs on registry.example/ml:7, which mlopsdsl cannot look into" in notes[0]
    # compile says the same, on standard error, and still writes the document
    code, out, err = cli("compile", PIPELINES + ":frames", "-b", "kfp", "-O", "image=registry.example/ml:7")
    assert code == 0, err
    assert [line for line in err.splitlines() if line.startswith("note: ")] == notes
    assert "pipelineSpec" in out or "pipelineInfo" in out


def test_the_ir_backend_checks_no_image() -> None:
    assert json.loads(ml.compile(ip.frames))["root"] == "frames"


def test_stock_python_images() -> None:
    assert images.stock_python("python:3.11-slim") == (True, "3.11")
    assert images.stock_python("docker.io/library/python:3.12.4-slim-bookworm") == (True, "3.12")
    assert images.stock_python("python") == (True, None)
    assert images.stock_python("pythonista:3.11") == (False, None)
    assert images.stock_python("ghcr.io/me/python:3.11") == (False, None)


def test_image_repo_puts_steps_on_the_built_images() -> None:
    text = ml.compile(ip.frames, backend="argo", image_repo="registry.example/frames")
    plan = images.plan(ip.frames.build(), ip.frames.step_functions(), "registry.example/frames")
    templates = {t["name"]: t for t in yaml.safe_load(text)["spec"]["templates"] if "container" in t}
    by_image = {name: t["container"]["image"] for name, t in templates.items()}
    assert by_image["make"] == plan.by_step["make"] and by_image["spread"] == plan.by_step["spread"]
    assert by_image["label"] == f"python:{PYTHON}-slim"  # needs nothing: the stock image
    assert plan.by_step["make"].startswith("registry.example/frames:")
    # make needs pandas (which requires numpy) and total needs pandas: the same lock, one image.
    assert plan.by_step["make"] == plan.by_step["total"] != plan.by_step["spread"]
    assert len(plan.images) == 2


def test_a_built_image_changes_the_step_digest() -> None:
    plain = ip.frames.build()
    text = ml.compile(ip.frames, backend="ir")
    assert json.loads(text)["digest"] == plain.digest
    from mlopsdsl import backends

    options: dict[str, object] = {"functions": ip.frames.step_functions(), "image_repo": "r/x"}
    placed = backends.check_images(plain, options)
    assert "image_repo" not in options
    assert placed.step("make").digest != plain.step("make").digest
    assert placed.step("label").digest == plain.step("label").digest
    assert placed.digest != plain.digest


def test_bad_option_file_is_not_needed(tmp_path: Path) -> None:
    """A pipeline whose steps import only the standard library compiles as before, for every backend."""
    path = tmp_path / "plain_steps.py"
    path.write_text(
        textwrap.dedent(
            """
            import math
            import mlopsdsl as ml

            @ml.step
            def root(x: float) -> float:
                return math.sqrt(x)

            @ml.pipeline
            def plain(x: float = 4.0) -> float:
                return root(x=x)
            """
        )
    )
    for backend in ("kfp", "argo"):
        code, _, err = cli("validate", str(path), "-b", backend)
        assert code == 0, err
        assert "note:" not in err


def test_a_packages_item_that_is_not_a_requirement(user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(
        """
        import mlopsdsl as ml

        @ml.step(packages=["numpy>=>2"])
        def bad(x: int) -> int:
            return x

        @ml.pipeline
        def p(x: int = 1) -> int:
            return bad(x=x)
        """
    )
    with pytest.raises(ValidationError) as caught:
        ml.compile(mod.p, backend="argo")
    (problem,) = caught.value.problems
    assert problem.code == "bad-package" and problem.location is not None and problem.location.line == 4
    assert problem.message == "step 'bad': packages= holds 'numpy>=>2', which is not a pip requirement"


def test_the_lock_follows_requirements_with_markers_for_the_image() -> None:
    from importlib.metadata import version

    from mlopsdsl.images._dists import closure

    locked = closure(["pandas"], PYTHON)
    assert locked.pins["pandas"] == version("pandas")
    assert {"numpy", "python-dateutil", "six"} <= set(locked.pins)
    # pandas requires tzdata only on Windows and emscripten: not in a Linux image, so not missing either
    assert "tzdata" not in locked.pins and locked.missing == {}
    assert closure(["mlopsdsl"], PYTHON).pins == {}  # what the runtime bundle carries is never pinned
    assert "mlopsdsl" in closure(["mlopsdsl"], PYTHON, skip=frozenset()).pins  # unless asked (import mode)


def test_a_requirement_not_installed_here_cannot_be_locked(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlopsdsl.images import _dists

    real = _dists._installed
    monkeypatch.setattr(_dists, "_installed", lambda name: None if name == "six" else real(name))
    with pytest.raises(ValidationError) as caught:
        ml.compile(ip.frames, backend="kfp", image_repo="r/frames")
    problems = {p.message.split(":")[0]: p for p in caught.value.problems}
    assert set(problems) == {"step 'make'", "step 'total'"}  # the image with pandas, whose dateutil needs six
    make = problems["step 'make'"]
    assert make.code == "unpinnable-distribution" and make.location is not None
    assert make.location.line == line_of(ip.make)
    assert "cannot be locked: six (required by python-dateutil) is not installed here" in make.message


@pytest.mark.parametrize("command", ["submit", "publish"])
def test_submit_and_publish_check_images_before_sending_anything(command: str) -> None:
    # nothing listens on port 9 of 127.0.0.1: reaching the server would be exit 4, not 2
    code, _, err = cli(command, PIPELINES + ":frames", "--backend", "argo", "--host", "http://127.0.0.1:9")
    assert code == 2, err
    assert "step 'make' needs numpy" in err
