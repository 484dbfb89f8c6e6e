"""`mlopsdsl build`: the build contexts, their determinism, pushing, and a proof that each lock is complete.

The proof needs no Docker: each image's lock is installed with ``pip install --no-deps --target`` (pip
resolves nothing, so a distribution missing from the lock stays missing), and every step of the example
pipelines and of ``image_pipelines`` runs through the KFP and Argo emulators under ``python -I -S`` with
that folder as its image's site-packages.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import image_pipelines as ip
import pytest
from typer.testing import CliRunner

import mlopsdsl as ml
from mlopsdsl import images
from mlopsdsl.cli import app
from mlopsdsl.images._build import write_contexts
from mlopsdsl.testing import run_argo, run_kfp

ROOT = Path(__file__).parent.parent.parent
PIPELINES = str(Path(ip.__file__))
PYTHON = images.compiling_python()
runner = CliRunner()


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def contexts(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_build_writes_one_context_per_distinct_lock(tmp_path: Path) -> None:
    code, out, err = cli(
        "build",
        PIPELINES + ":frames",
        "-o",
        str(tmp_path),
        "--image-repo",
        "reg.example/frames",
        "--no-hashes",
    )
    assert code == 0, err
    summary = json.loads((tmp_path / "images.json").read_text())
    assert [sorted(i["steps"]) for i in summary["images"]] in (
        [["make", "total"], ["spread"]],
        [["spread"], ["make", "total"]],
    )
    assert set(summary["steps"]) == {"make", "total", "spread"}  # label needs nothing: stock image
    for image in summary["images"]:
        assert image["tag"].startswith("reg.example/frames:") and image["tag"] in out
        folder = tmp_path / image["context"]
        dockerfile = (folder / "Dockerfile").read_text()
        final = dockerfile.split("\n\n", 1)[1]  # the stage the image is
        assert final.startswith(f"FROM python:{PYTHON}-slim\n")
        assert "build-essential" not in final and "USER 10001:10001" in final
        assert "--mount=type=bind,from=wheels" in final
        lock = (folder / "requirements.lock").read_text().splitlines()
        pins = [line for line in lock if not line.startswith("#")]
        assert pins == image["lock"] and all("==" in p for p in pins)
    make = next(i for i in summary["images"] if "make" in i["steps"])
    names = {p.split("==")[0] for p in make["lock"]}
    assert {"numpy", "pandas", "pyarrow"} <= names
    assert "python-dateutil" in names  # what pandas requires, as installed here


def test_build_is_deterministic_and_matches_compile(tmp_path: Path) -> None:
    for out in ("a", "b"):
        code, _, err = cli("build", PIPELINES + ":frames", "-o", str(tmp_path / out), "--no-hashes")
        assert code == 0, err
    assert contexts(tmp_path / "a") == contexts(tmp_path / "b")
    steps = json.loads((tmp_path / "a" / "images.json").read_text())["steps"]
    text = ml.compile(ip.frames, backend="kfp", image_repo=f"mlopsdsl/{ip.frames.name}")
    for tag in steps.values():
        assert f'image: "{tag}"' in text


def test_the_lock_has_hashes_when_pip_gives_them(tmp_path: Path) -> None:
    code, out, err = cli("build", PIPELINES + ":declared", "-o", str(tmp_path))
    assert code == 0, err
    assert "hashed" in out
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    lock = (folder / "requirements.lock").read_text()
    assert "numpy==" in lock and "--hash=sha256:" in lock


def test_import_mode_ships_the_users_code_and_mlopsdsl(tmp_path: Path) -> None:
    code, _, err = cli(
        "build", PIPELINES + ":declared", "-o", str(tmp_path), "--code", "import", "--no-hashes"
    )
    assert code == 0, err
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert (folder / "app" / "image_pipelines.py").read_bytes() == Path(PIPELINES).read_bytes()
    assert "COPY --chown=root:root app/ /app/" in (folder / "Dockerfile").read_text()
    assert "mlopsdsl==" in (folder / "requirements.lock").read_text()


def test_nothing_to_build_for_a_pipeline_that_needs_nothing(tmp_path: Path) -> None:
    code, out, err = cli("build", str(ROOT / "examples" / "quickstart.py"), "-o", str(tmp_path / "out"))
    assert code == 0, err
    assert "nothing to build" in out and not (tmp_path / "out").exists()


def _fake_tools(folder: Path, names: list[str]) -> Path:
    """Scripts standing in for image builders: each records its arguments."""
    folder.mkdir()
    for name in names:
        script = folder / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{folder}/calls"\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


def test_push_without_a_builder_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(_fake_tools(tmp_path / "bin", [])))
    code, _, err = cli("build", PIPELINES + ":declared", "-o", str(tmp_path / "out"), "--no-hashes", "--push")
    assert code == 2
    assert "--push needs docker (with buildx), podman or buildah on PATH, and none is" in err
    assert (tmp_path / "out" / "images.json").exists()  # the contexts are still written


@pytest.mark.parametrize(
    ("tools", "expected"),
    [
        (["docker", "podman"], ["docker buildx build --push --tag {tag} {folder}"]),
        (["podman", "buildah"], ["podman build --tag {tag} {folder}", "podman push {tag}"]),
        (["buildah"], ["buildah build --tag {tag} {folder}", "buildah push {tag}"]),
    ],
)
def test_push_uses_the_first_builder_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tools: list[str], expected: list[str]
) -> None:
    bin_dir = _fake_tools(tmp_path / "bin", tools)
    monkeypatch.setenv("PATH", str(bin_dir))
    out = tmp_path / "out"
    code, _, err = cli(
        "build", PIPELINES + ":declared", "-o", str(out), "--no-hashes", "--push", "--image-repo", "r/x"
    )
    assert code == 0, err
    (image,) = json.loads((out / "images.json").read_text())["images"]
    calls = (bin_dir / "calls").read_text().splitlines()
    assert calls == [e.format(tag=image["tag"], folder=out / image["context"]) for e in expected]


# --------------------------------------------------------------------------- the lock is complete


def _example_pipelines() -> list[ml.Pipeline]:  # type: ignore[type-arg]
    sys.path.insert(0, str(ROOT / "tests"))
    import golden

    from mlopsdsl._target import import_target_module, pipelines_in

    found = [ip.frames, ip.declared_pipeline]
    for path in golden.example_files():
        found += list(pipelines_in(import_target_module(str(path))).values())
    return found


@pytest.fixture(scope="module")
def installed_locks(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[Path]], Path]:
    """Every image of every pipeline, its lock installed with ``pip --no-deps --target``; by tag."""
    root = tmp_path_factory.mktemp("locks")
    sites: dict[str, list[Path]] = {}
    for pipeline in _example_pipelines():
        plan = images.plan(pipeline.build(), pipeline.step_functions(), "test/images")
        for item in write_contexts(plan, root / pipeline.name, hashes=False):
            if item.image.tag in sites:
                continue
            target = root / "site" / item.image.tag.rsplit(":", 1)[1]
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
                 "--target", str(target), "-r", str(item.folder / "requirements.lock")],
                check=True,
            )  # fmt: skip
            sites[item.image.tag] = [target]
    return sites, root / "packages"


@pytest.mark.parametrize("emulate", [run_kfp, run_argo], ids=["kfp", "argo"])
def test_every_step_runs_on_its_image_with_only_its_lock(
    emulate: object, installed_locks: tuple[dict[str, list[Path]], Path], tmp_path: Path
) -> None:
    sites, cache = installed_locks
    backend = "kfp" if emulate is run_kfp else "argo"
    for pipeline in _example_pipelines():
        text = ml.compile(pipeline, backend=backend, image_repo="test/images")
        run = emulate(  # type: ignore[operator]
            text, {}, workdir=tmp_path / pipeline.name, site_packages=sites, packages_cache=cache
        )
        assert run.status == "Succeeded", (pipeline.name, run.failed, run.logs)
        assert not run.failed


def test_without_its_lock_a_step_fails_on_the_import(tmp_path: Path) -> None:
    """The proof above can fail: the same run with no site-packages for the built image does."""
    text = ml.compile(ip.frames, backend="argo", image_repo="test/images")
    run = run_argo(text, {}, workdir=tmp_path)
    assert run.status == "Failed"
    assert "step 'make' uses module 'pandas', which is not installed here" in run.logs["make"]


def test_packages_are_installed_once_per_set_in_both_emulators(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    kfp = run_kfp(
        ml.compile(ip.declared_pipeline, backend="kfp"), {}, workdir=tmp_path / "k", packages_cache=cache
    )
    argo = run_argo(
        ml.compile(ip.declared_pipeline, backend="argo"), {}, workdir=tmp_path / "a", packages_cache=cache
    )
    assert kfp.status == argo.status == "Succeeded", (kfp.logs, argo.logs)
    assert kfp.outputs == {"output": 3.0} and argo.outputs == {"output": 3.0}
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 1  # one set, one folder
    assert (next(cache.iterdir()) / "numpy").is_dir()


@pytest.mark.parametrize("emulate", [run_kfp, run_argo], ids=["kfp", "argo"])
def test_an_uninstallable_package_fails_the_step_naming_it(
    emulate: object, tmp_path: Path, user_module: object
) -> None:
    mod = user_module(  # type: ignore[operator]
        """
        import mlopsdsl as ml

        @ml.step(packages=["mlopsdsl-no-such-distribution==0.0.1"])
        def doomed(x: int) -> int:
            return x

        @ml.pipeline
        def p(x: int = 1) -> int:
            return doomed(x=x)
        """
    )
    backend = "kfp" if emulate is run_kfp else "argo"
    run = emulate(
        ml.compile(mod.p, backend=backend), {}, workdir=tmp_path / "w", packages_cache=tmp_path / "c"
    )  # type: ignore[operator]
    assert run.status == "Failed"
    (log,) = [text for text in run.logs.values() if text]
    assert "step 'doomed': packages=['mlopsdsl-no-such-distribution==0.0.1'] could not be installed" in log
    assert not [p for p in (tmp_path / "c").iterdir() if not p.name.startswith(".")]  # nothing half-kept
    assert os.listdir(tmp_path / "c") == []
