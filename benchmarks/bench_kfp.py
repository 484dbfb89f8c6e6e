"""KFP compiler speed and output size, side by side with kfp's own compiler on the same chains.

Run: ``.venv/bin/python benchmarks/bench_kfp.py [--sizes 100 500 1000] [--repeat 5]``

For each N: a chain of N calls of one trivial step, built once by each tool (mlopsdsl: ``pipeline.build()``,
the IR; kfp: its ``@dsl.pipeline`` tracing), then compiled to a YAML file, best of ``--repeat``
(mlopsdsl: ``KfpBackend().compile(document)`` written to a file; kfp: ``Compiler().compile``). Sizes are
of the written files. Budgets: at least 10x faster than kfp; a 500-step chain under 1 MB.

(No ``from __future__ import annotations`` here: kfp's component decorator needs real annotations.)
"""

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

from _chains import chain


def ours(n: int) -> Any:
    return chain(n, name=f"chain{n}")


def theirs(n: int) -> Any:
    from kfp import dsl

    @dsl.component(base_image=f"python:{sys.version_info[0]}.{sys.version_info[1]}-slim")
    def kinc(x: int) -> int:
        return x + 1

    @dsl.pipeline(name=f"chain{n}")
    def chain(x: int = 0) -> int:
        task = kinc(x=x)
        for _ in range(n - 1):
            task = kinc(x=task.output)
        return task.output

    return chain


def best(fn: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from kfp import compiler
    from mlopsdsl_kfp import KfpBackend

    backend = KfpBackend()
    folder = tempfile.mkdtemp()
    print(f"Python {sys.version.split()[0]}, best of {args.repeat}")
    columns = ("mlopsdsl", "kfp", "speed-up", "our size", "kfp size", "size ratio")
    print(f"{'N':>6} " + " ".join(f"{c:>10}" for c in columns))
    for n in args.sizes:
        document = ours(n).build()
        kfp_pipeline = theirs(n)
        our_path = os.path.join(folder, f"ours-{n}.yaml")
        their_path = os.path.join(folder, f"kfp-{n}.yaml")

        def compile_ours(document: Any = document, path: str = our_path) -> None:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(backend.compile(document))

        def compile_theirs(pipeline: Any = kfp_pipeline, path: str = their_path) -> None:
            compiler.Compiler().compile(pipeline, path)

        mine = best(compile_ours, args.repeat)
        kfp_time = best(compile_theirs, max(1, min(args.repeat, 3)))
        our_size = os.path.getsize(our_path)
        their_size = os.path.getsize(their_path)
        print(
            f"{n:>6} {mine * 1000:>8.1f}ms {kfp_time * 1000:>8.0f}ms {kfp_time / mine:>9.1f}x "
            f"{our_size / 1024:>8.1f}KB {their_size / 1024:>8.1f}KB {our_size / their_size:>10.2f}"
        )


if __name__ == "__main__":
    main()
