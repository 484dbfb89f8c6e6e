"""The cost of the image check (docs/images.md) in a compile, and of `mlopsdsl build`.

- the import analysis (`images.needs_of` + `images.check`) of each example pipeline and of a pipeline
  using numpy and pandas, cold (a fresh process: the first call reads the installed distributions'
  metadata) and warm;
- a compile for KFP and for Argo with and without the check (budget: the check adds at most 20%), cold in a
  fresh process and warm (medians): the backend's compile of a built document, and the whole
  `mlopsdsl compile` process (imports, the user's module, building, compiling);
- `mlopsdsl build` end to end (a fresh process), without and with hashes (`pip download`).

Run: `python benchmarks/bench_images.py [--repeat N]` (or `nox -s bench`).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent
TARGETS = [
    *(str(p) for p in sorted((ROOT / "examples").rglob("*.py")) if not p.name.startswith("_")),
    str(ROOT / "tests" / "images" / "image_pipelines.py") + ":frames",
]

CLI = "from mlopsdsl.cli import main; main()"
CHILD = r"""
import json, sys, time
from mlopsdsl import backends, images
from mlopsdsl._target import load_pipeline

target, backend_name, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
pipeline = load_pipeline(target)
document = pipeline.build()
functions = pipeline.step_functions()
backend = backends.load(backend_name)
options = {"functions": functions, "image": "registry.example/trusted:1"}  # trusted: every pipeline compiles

def compile_plain():
    backends.check_capabilities(backend, document)
    return backend.compile(document, **options)

def analysis():
    needs = images.needs_of(document, functions)
    return images.check(document, functions, image=options["image"], code="value", needs=needs)

def timed(fn):
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000

cold_plain = timed(compile_plain)   # the backend's own first-compile costs (its imports) come first
cold_analysis = timed(analysis)     # then the analysis, cold: metadata read on first use
warm_plain = sorted(timed(compile_plain) for _ in range(repeat))[repeat // 2]
warm_analysis = sorted(timed(analysis) for _ in range(repeat))[repeat // 2]
print(json.dumps({"cold_plain": cold_plain, "cold_analysis": cold_analysis,
                  "warm_plain": warm_plain, "warm_analysis": warm_analysis}))
"""


def child(target: str, backend: str, repeat: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, target, backend, str(repeat)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def cli_time(*argv: str) -> float:
    """Seconds of a whole `mlopsdsl ...` process (its imports, the user's module, the compile)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", CLI, *argv], check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def build_time(target: str, *flags: str) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", CLI, "build", target, "-o", out, *flags],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    print(
        f"{'pipeline':<30} {'backend':<5} {'compile cold':>12} {'+analysis':>10} {'ratio':>6} "
        f"{'compile warm':>12} {'+analysis':>10} {'ratio':>6} {'CLI compile':>11} {'ratio':>6}"
    )
    worst = 0.0
    for target in TARGETS:
        for backend in ("kfp", "argo"):
            runs = [child(target, backend, args.repeat) for _ in range(3)]
            m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            cold, warm = m["cold_analysis"] / m["cold_plain"], m["warm_analysis"] / m["warm_plain"]
            worst = max(worst, cold, warm)
            whole = 1000 * statistics.median(
                cli_time("compile", target, "-b", backend, "-O", "image=registry.example/trusted:1")
                for _ in range(3)
            )
            name = Path(target.split(":")[0]).name + (":" + target.split(":")[1] if ":" in target else "")
            cells = [m["cold_plain"], m["cold_analysis"], cold, m["warm_plain"], m["warm_analysis"], warm]
            print(f"{name:<30} {backend:<5} {cells[0]:>10.1f}ms {cells[1]:>8.1f}ms {cells[2]:>6.1%} "
                  f"{cells[3]:>10.1f}ms {cells[4]:>8.1f}ms {cells[5]:>6.1%} {whole:>9.0f}ms "
                  f"{cells[1] / whole:>6.1%}")  # fmt: skip
    print(f"largest analysis / backend compile: {worst:.1%} (budget 20%)")
    frames = TARGETS[-1]
    plain = statistics.median(build_time(frames, "--no-hashes") for _ in range(3))
    hashed = statistics.median(build_time(frames) for _ in range(3))
    print(f"mlopsdsl build {Path(frames).name}: {plain:.2f} s without hashes, {hashed:.2f} s with hashes")


if __name__ == "__main__":
    main()
