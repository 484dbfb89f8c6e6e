"""Argo compiler budgets: speed against hera, and the size of a long chain.

Builds a chain of N trivial steps (one step function called N times, each task taking the previous
task's output) with mlopsdsl and the equivalent Workflow with hera (one container template reused by N DAG
tasks, each passing the previous output parameter), and times, in the same run and process:

- mlopsdsl: ``ml.compile`` of a freshly defined pipeline (tracing, IR, validation and Argo YAML), and the
  Argo compiler alone on a built IR;
- hera: building the Workflow objects and ``to_yaml()``.

Targets (issue 5): mlopsdsl at least 3x faster than hera; a 500-step chain under 300 KB of YAML.
Run: ``.venv/bin/python benchmarks/bench_argo.py``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from _chains import chain
from mlopsdsl_argo import ArgoBackend

import mlopsdsl as ml

SIZES = (100, 500, 1000)
REPEAT = 5


def hera_chain(n: int) -> str:
    from hera.workflows import DAG, Container, Parameter, Workflow, models

    with Workflow(generate_name=f"chain-{n}-", entrypoint="chain", arguments={"start": "0"}) as workflow:
        inc_template = Container(
            name="inc",
            image="python:3.11-slim",
            command=["python", "-c", "import sys; open('/tmp/out', 'w').write(str(int(sys.argv[1]) + 1))"],
            args=["{{inputs.parameters.x}}"],
            inputs=[Parameter(name="x")],
            outputs=[Parameter(name="output", value_from=models.ValueFrom(path="/tmp/out"))],
        )
        with DAG(name="chain", inputs=[Parameter(name="start")]):
            previous = inc_template(name="inc", arguments={"x": "{{inputs.parameters.start}}"})
            for i in range(2, n + 1):
                task = inc_template(
                    name=f"inc-{i}",
                    arguments={"x": f"{{{{tasks.{previous.name}.outputs.parameters.output}}}}"},
                )
                previous >> task
                previous = task
    return workflow.to_yaml()


def best(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def main() -> None:
    import hera

    backend = ArgoBackend()
    print(
        f"Python {sys.version.split()[0]}, hera {hera.__version__ if hasattr(hera, '__version__') else '?'}"
    )
    print(f"best of {REPEAT}, milliseconds\n")
    header = ("N", "ml.compile", "compiler only", "hera", "hera/ours", "hera/compiler", "YAML KB", "hera KB")
    print("{:>5} {:>11} {:>14} {:>8} {:>10} {:>14} {:>8} {:>8}".format(*header))
    for n in SIZES:
        pipeline = chain(n)
        document = pipeline.build()
        ours = best(
            lambda n=n: ml.compile(chain(n), backend=backend)
        )  # a fresh pipeline: trace, validate, compile
        compiler = best(lambda document=document: backend.compile(document))
        theirs = best(lambda n=n: hera_chain(n))
        size = len(backend.compile(document).encode()) / 1000
        hera_size = len(hera_chain(n).encode()) / 1000
        ratios = (f"{theirs / ours:.1f}x", f"{theirs / compiler:.1f}x")
        row = (
            n,
            f"{ours:.1f}",
            f"{compiler:.1f}",
            f"{theirs:.1f}",
            *ratios,
            f"{size:.1f}",
            f"{hera_size:.1f}",
        )
        print("{:>5} {:>11} {:>14} {:>8} {:>10} {:>14} {:>8} {:>8}".format(*row))
    size_500 = len(backend.compile(chain(500).build()).encode())
    print(f"\n500-step chain: {size_500 / 1000:.1f} KB of YAML (budget 300 KB)")


if __name__ == "__main__":
    main()
