"""Publish pipelines from CI, only when their compiled form changed.

For each pipeline and each backend: validate it (``mlopsdsl validate --backend``), compile it, compare
the result with the copy that was last published (kept in ``--published DIR``, which CI carries from run
to run), print the difference, and publish (``mlopsdsl publish``) only when there is one; then keep the new
copy. Compiled output is deterministic, so an unchanged pipeline compiles to the same bytes and nothing is
sent. ``mlopsdsl publish`` itself also compares with what the server holds, so a lost ``--published``
folder costs a few reads, never a duplicate version.

    python scripts/publish.py examples/sweep/pipeline.py examples/tabular_sklearn/pipeline.py \\
        --published .published --kfp-host "$KFP_HOST" --argo-host "$ARGO_SERVER" [--namespace NS]

The token comes from ``$MLOPSDSL_TOKEN``, as for ``mlopsdsl publish``. Exit status: 0 when everything was
published or unchanged, 2 when a pipeline is invalid (nothing is published then, for any backend), 1 when
a command failed otherwise. A summary goes to ``$GITHUB_STEP_SUMMARY`` when GitHub Actions sets it.
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

COMPILE_ARGS = {"kfp": [], "argo": ["--kind", "template"]}
"""What each backend publishes: KFP a pipeline package, Argo a WorkflowTemplate (``publish`` compiles the
same kind, so the compared copy is what the server gets)."""


@dataclass
class Outcome:
    target: str
    backend: str
    changed: bool
    message: str


def mlopsdsl() -> list[str]:
    """The command line of the ``mlopsdsl`` installed beside this Python, or the one on ``PATH``."""
    beside = Path(sys.executable).with_name("mlopsdsl")
    return [str(beside)] if beside.is_file() else ["mlopsdsl"]


def call(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*mlopsdsl(), *args], capture_output=True, text=True)


def stored_name(target: str, backend: str) -> str:
    """``examples/sweep/pipeline.py:digits_sweep`` -> ``examples.sweep.pipeline.digits_sweep.argo.yaml``."""
    path, _, name = target.partition(":")
    stem = Path(path).with_suffix("").as_posix().strip("./").replace("/", ".")
    return f"{stem}{'.' + name if name else ''}.{backend}.yaml"


def write_atomic(path: Path, text: str) -> None:
    """Whole or untouched: a CI job killed half-way leaves the previous copy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as out:
        out.write(text)
    Path(out.name).replace(path)


def validate(targets: list[str], backends: list[str]) -> list[str]:
    """Every problem of every pipeline on every backend, as ``mlopsdsl validate`` prints them."""
    problems = []
    for target in targets:
        for backend in backends:
            result = call("validate", target, "--backend", backend)
            if result.returncode != 0:
                problems.append(f"[{backend}] {target}:\n{result.stdout}{result.stderr}".rstrip())
    return problems


def publish_one(target: str, backend: str, host: str, published: Path, extra: list[str]) -> Outcome:
    compiled = call("compile", target, "--backend", backend, *COMPILE_ARGS.get(backend, []), "-o", "-")
    if compiled.returncode != 0:
        raise RuntimeError(f"mlopsdsl compile {target} --backend {backend} failed:\n{compiled.stderr}")
    copy = published / stored_name(target, backend)
    before = copy.read_text() if copy.is_file() else None
    if before == compiled.stdout:
        return Outcome(target, backend, False, "unchanged since the last publish: nothing sent")
    diff = difflib.unified_diff(
        (before or "").splitlines(keepends=True),
        compiled.stdout.splitlines(keepends=True),
        fromfile=f"published/{copy.name}" if before is not None else "/dev/null",
        tofile=f"compiled/{copy.name}",
        n=2,
    )
    shown = list(diff)
    print(f"--- {target} on {backend}: {len(shown)} lines of difference", flush=True)
    sys.stdout.writelines(shown[:200])
    result = call("publish", target, "--backend", backend, "--host", host, *extra)
    if result.returncode != 0:
        raise RuntimeError(
            f"mlopsdsl publish {target} --backend {backend} failed:\n{result.stdout}{result.stderr}"
        )
    write_atomic(copy, compiled.stdout)
    return Outcome(target, backend, not result.stdout.startswith("unchanged"), result.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("targets", nargs="+", help="pipelines, as mlopsdsl takes them (file.py[:name])")
    parser.add_argument("--published", type=Path, required=True, help="the copies last published")
    parser.add_argument("--kfp-host", help="the KFP API endpoint (KFP is skipped without it)")
    parser.add_argument("--argo-host", help="the Argo Server URL (Argo is skipped without it)")
    parser.add_argument("--namespace", help="the Kubernetes namespace to publish into")
    args = parser.parse_args(argv)
    hosts = {name: host for name, host in (("kfp", args.kfp_host), ("argo", args.argo_host)) if host}
    if not hosts:
        parser.error("give --kfp-host, --argo-host or both")
    problems = validate(args.targets, list(hosts))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print("invalid pipelines: nothing was published", file=sys.stderr)
        return 2
    extra = ["--namespace", args.namespace] if args.namespace else []
    outcomes = []
    try:
        for target in args.targets:
            for backend, host in hosts.items():
                outcome = publish_one(target, backend, host, args.published, extra)
                print(f"{target} [{backend}]: {outcome.message}", flush=True)
                outcomes.append(outcome)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as out:
            out.write("| pipeline | backend | published |\n|---|---|---|\n")
            out.writelines(
                f"| `{o.target}` | {o.backend} | {'yes' if o.changed else 'no'} |\n" for o in outcomes
            )
    changed = sum(o.changed for o in outcomes)
    print(f"published {changed} of {len(outcomes)} (pipeline, backend) pairs; the others were unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
