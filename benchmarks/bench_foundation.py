"""Foundation budgets, measured side by side with the peers on this machine.

- `python -c "import mlopsdsl"` (budget 150 ms median) against `import kfp.dsl` and `import hera.workflows`;
- `mlopsdsl --help` (budget 300 ms);
- building and validating a 1,000-step pipeline (budget 0.2 s), against kfp tracing the same chain.

Run: `python benchmarks/bench_foundation.py [--repeat N]` (or `nox -s bench`). Peers that are not installed
are reported as such, not skipped silently. (No `from __future__ import annotations` here: kfp reads real
annotation objects.)
"""

import argparse
import importlib.util
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run(*argv: str) -> Callable[[], object]:
    return lambda: subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def have(module: str) -> bool:
    return importlib.util.find_spec(module.split(".")[0]) is not None


def build_chain(n: int) -> float:
    """Seconds to trace, build the IR of and validate an n-step chain (fresh pipeline object)."""
    from _chains import chain

    pipeline = chain(n)
    start = time.perf_counter()
    doc = pipeline.build()
    elapsed = time.perf_counter() - start
    assert len(doc.pipeline.tasks) == n
    return elapsed


def kfp_chain(n: int) -> float:
    """Seconds for kfp to trace the same chain into its pipeline object (no compile to YAML)."""
    from kfp import dsl

    @dsl.component(base_image="python:3.11-slim")
    def inc(x: int) -> int:
        return x + 1

    start = time.perf_counter()

    @dsl.pipeline(name=f"chain-{n}")
    def chain(x: int = 0) -> int:
        task = inc(x=x)
        for _ in range(n - 1):
            task = inc(x=task.output)
        return task.output

    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    py = sys.executable
    print(f"python {sys.version.split()[0]}, {args.repeat} runs each, medians\n")

    bare = median_ms(run(py, "-c", "pass"), args.repeat)
    ours = median_ms(run(py, "-c", "import mlopsdsl"), args.repeat)
    print(f"{'bare interpreter':<34}{bare:8.1f} ms")
    print(f"{'import mlopsdsl':<34}{ours:8.1f} ms   (budget 150 ms)")
    authoring = "import mlopsdsl as ml; ml.Retry; ml.step(lambda x: x)"
    with_ir = median_ms(run(py, "-c", authoring), args.repeat)
    print(f"{'import mlopsdsl + its option types':<34}{with_ir:8.1f} ms")
    for module in ("kfp.dsl", "hera.workflows"):
        if have(module):
            peer = median_ms(run(py, "-c", f"import {module}"), args.repeat)
            print(f"{'import ' + module:<34}{peer:8.1f} ms   ratio {peer / ours:5.1f}x slower than us")
        else:
            print(f"{'import ' + module:<34}  not installed (pip install {module.split('.')[0]})")

    exe = shutil.which("mlopsdsl") or str(Path(py).with_name("mlopsdsl"))
    helped = median_ms(run(exe, "--help"), args.repeat)
    print(f"{'mlopsdsl --help':<34}{helped:8.1f} ms   (budget 300 ms)")

    print()
    for n in (100, 1000):
        ours_s = statistics.median(build_chain(n) for _ in range(max(3, args.repeat // 4)))
        line = f"{'build + validate ' + str(n) + ' steps':<34}{ours_s * 1000:8.1f} ms"
        if n == 1000:
            line += "   (budget 200 ms)"
        if have("kfp"):
            peer_s = statistics.median(kfp_chain(n) for _ in range(3))
            line += f"   kfp trace {peer_s * 1000:.1f} ms, ratio {peer_s / ours_s:.1f}x"
        print(line)


if __name__ == "__main__":
    main()
