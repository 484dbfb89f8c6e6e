"""The single entry point for checks: `nox -t ci`, `lint`, `typecheck`, `docs`, `examples`, `site`, `golden`,
`bench`, `fuzz`.

`.ci/run` calls `nox -t ci`, the same command the README gives: every session tagged ``ci`` (the core
suite, and suites that need their own virtual environment because their pins clash with the core's).
Compiler plugins under `compilers/` are found by walking the folder, so a new plugin is tested without
editing this file.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "typecheck", "tests"]

ROOT = Path(__file__).parent
PLUGINS = sorted(str(p.parent) for p in (ROOT / "compilers").glob("*/pyproject.toml"))


def install_project(session: nox.Session, extra: str = "test") -> None:
    session.install("-e", f".[{extra}]", *[arg for plugin in PLUGINS for arg in ("-e", plugin)])


@nox.session(python="3.11", tags=["ci"])
def tests(session: nox.Session) -> None:
    """The whole test suite, on two workers (``nox -s tests -- -n 0`` runs it in one process)."""
    install_project(session)
    session.run("pytest", "-n", "2", *session.posargs)


EXAMPLE_PACKAGES = ["torch==2.13.0", "scikit-learn", "pandas", "pyarrow", "nbclient", "nbformat", "ipykernel"]
"""What the examples' steps (their ``packages=``) and the notebook's kernel need; torch is a CPU build."""


@nox.session(python="3.11", tags=["ci"])
def examples(session: nox.Session) -> None:
    """Every example under ``examples/`` for real: trained locally and through each backend's emulator."""
    install_project(session)
    session.install(*EXAMPLE_PACKAGES)
    session.run("pytest", "examples", "-n", "2", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python="3.11", tags=["ci"])
def site(session: nox.Session) -> None:
    """The documentation site, built with ``mkdocs build --strict`` (any warning fails)."""
    # mlopsdsl for the pictures drawn at build time, and pandas, which the tabular example imports.
    session.install("-e", ".", "pandas", "mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.25")
    site = Path(session.create_tmp()) / "site"
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site), env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the core and the compilers."""
    install_project(session, "dev")
    session.run("mypy", "src", *[str(Path(p) / "src") for p in PLUGINS])


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Run every example of README.md and docs/ and check the pages against the code (also part of tests)."""
    install_project(session)
    session.run("pytest", "tests/test_docs.py", *session.posargs)


@nox.session(python="3.11")
def fuzz(session: nox.Session) -> None:
    """The fuzz tests with fresh random examples, five times CI's 200 (``MLOPSDSL_FUZZ_SCALE``)."""
    install_project(session)
    session.env["MLOPSDSL_FUZZ_SCALE"] = session.env.get("MLOPSDSL_FUZZ_SCALE", "5")
    session.run("pytest", "tests/reliability/test_fuzz.py", "-p", "no:xdist", *session.posargs)


@nox.session(python="3.11")
def golden(session: nox.Session) -> None:
    """Regenerate the golden files of every example for every backend (CI never does this)."""
    install_project(session)
    session.run("python", "tests/golden.py", "--update")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Run every benchmark script, us and the peers side by side."""
    install_project(session)
    session.install("kfp", "hera")
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)
