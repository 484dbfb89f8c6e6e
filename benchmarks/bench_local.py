"""Local runner overhead, side by side with kfp.local, and parallel speed-up on CPU-bound steps.

Run: ``.venv/bin/python benchmarks/bench_local.py [--steps 20] [--repeat 3] [--no-kfp] [--kfp-defaults]``

1. Per-step overhead on a chain of N trivial steps: mlopsdsl in-process and subprocess executors, and
   kfp.local's SubprocessRunner on the same chain (without its pip install: ``use_venv=False`` and
   ``install_kfp_package=False``). ``--kfp-defaults`` also times kfp.local with its defaults (a venv and a
   ``pip install kfp`` per step, which needs the network) on a shorter chain.
2. Four independent CPU-bound steps of about 1 s each, ``max_parallel=2``: the wall time on 2 cores.

Caching is off everywhere: every step really runs.
"""

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from _chains import chain

import mlopsdsl as ml

LOOPS_PER_SECOND = 0  # calibrated in main(); read by the CPU-bound step through its payload


def make_chain(n: int) -> Any:
    return chain(n, name=f"chain{n}")


@ml.step(cache=False)
def burn(seed: int, loops: int) -> int:
    total = seed
    for i in range(loops):
        total = (total * 31 + i) % 1_000_003
    return total


def make_burners(loops: int) -> Any:
    @ml.pipeline(name="burners")
    def burners() -> tuple[int, int, int, int]:
        return (
            burn(seed=1, loops=loops),
            burn(seed=2, loops=loops),
            burn(seed=3, loops=loops),
            burn(seed=4, loops=loops),
        )

    return burners


def timed(fn: Callable[[], Any], repeat: int) -> float:
    """The median wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_mlopsdsl(n: int, repeat: int, home: str) -> dict[str, float]:
    chain = make_chain(n)
    chain.build()
    out = {}
    for label, in_process in (("in-process", True), ("subprocess", False)):
        result = ml.run(chain, home=home, progress=False, in_process=in_process, cache=False)
        assert result.output == n, result
        seconds = timed(
            lambda ip=in_process: ml.run(chain, home=home, progress=False, in_process=ip, cache=False), repeat
        )
        out[label] = seconds / n
    return out


def bench_kfp(n: int, repeat: int, workdir: str, defaults: bool) -> float:
    from kfp import dsl, local

    if defaults:
        local.init(runner=local.SubprocessRunner(), pipeline_root=os.path.join(workdir, "kfp-outputs"))

        @dsl.component(base_image="python:3.11")
        def kinc(x: int) -> int:
            return x + 1

    else:
        local.init(
            runner=local.SubprocessRunner(use_venv=False), pipeline_root=os.path.join(workdir, "kfp-outputs")
        )

        @dsl.component(base_image="python:3.11", install_kfp_package=False)
        def kinc(x: int) -> int:
            return x + 1

    @dsl.pipeline
    def kchain(x: int = 0) -> int:
        task = kinc(x=x)
        for _ in range(n - 1):
            task = kinc(x=task.output)
        return task.output

    def once() -> None:
        with _quiet():
            result = kchain().output
        assert result == n

    return timed(once, repeat) / n


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """kfp.local logs every step and streams its executor's output; keep the benchmark's report readable."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(os.devnull, "w") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def calibrate() -> int:
    loops = 200_000
    while True:
        started = time.perf_counter()
        burn.fn(seed=1, loops=loops)
        took = time.perf_counter() - started
        if took > 0.2:
            return int(loops / took)
        loops *= 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-kfp", action="store_true")
    parser.add_argument("--kfp-defaults", action="store_true")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="bench-local-")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, chain of {args.steps} trivial steps")

    ours = bench_mlopsdsl(args.steps, args.repeat, home)
    print(f"  mlopsdsl in-process   {ours['in-process'] * 1000:8.2f} ms/step   (target <= 2 ms)")
    print(f"  mlopsdsl subprocess   {ours['subprocess'] * 1000:8.2f} ms/step   (target <= 60 ms)")
    if not args.no_kfp:
        try:
            kfp_fast = bench_kfp(args.steps, args.repeat, home, defaults=False)
        except Exception as exc:  # kfp not installed, or its local runner failed
            print(f"  kfp.local             not run: {type(exc).__name__}: {exc}")
        else:
            print(f"  kfp.local (no pip)    {kfp_fast * 1000:8.2f} ms/step")
            print(f"  ratio kfp.local / mlopsdsl subprocess: {kfp_fast / ours['subprocess']:.1f}x")
            print(f"  ratio kfp.local / mlopsdsl in-process: {kfp_fast / ours['in-process']:.0f}x")
        if args.kfp_defaults:
            try:
                kfp_default = bench_kfp(3, 1, home, defaults=True)
            except Exception as exc:
                print(f"  kfp.local (defaults)  not run: {type(exc).__name__}: {exc}")
            else:
                ratio = kfp_default / ours["subprocess"]
                print(f"  kfp.local (defaults)  {kfp_default * 1000:8.2f} ms/step (3 steps, pip each)")
                print(f"  ratio kfp.local defaults / mlopsdsl subprocess: {ratio:.0f}x")

    loops = calibrate()
    burners = make_burners(loops)
    wall = timed(lambda: ml.run(burners, home=home, progress=False, max_parallel=2), args.repeat)
    single = timed(lambda: burn.fn(seed=1, loops=loops), args.repeat)
    print(
        f"four CPU-bound steps of {single:.2f}s each, max_parallel=2: {wall:.2f}s wall (target <= 2.4 s); "
        f"ideal {2 * single:.2f}s, serial {4 * single:.2f}s, speed-up {4 * single / wall:.2f}x"
    )


if __name__ == "__main__":
    main()
