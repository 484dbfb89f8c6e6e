"""What a user feels: whole commands, each a fresh process, side by side with kfp, hera and kfp.local.

Run: ``.venv/bin/python benchmarks/bench_whole.py [--repeat 5] [--steps 20] [--run-steps 20 200]
[--linear 100 1000 10000] [--linear-run 100 10000] [--skip-peers] [--instructions]``

Every figure is the median of ``--repeat`` runs (at least 5), each a new process started by this script,
with its wall time and its CPU time (user + system, from the kernel's accounting of the finished child):
on a shared machine the wall time carries the other jobs' load, the CPU time less of it (a loaded core
still runs slower: shared caches). The cold compiles run in turns (one of each, then again), so that a
change of load weighs on ours and the peers' alike, and ``--instructions`` also counts each compile's
instructions with valgrind, a figure the load does not move. The load average is printed with each section.

1. Cold compile of a chain of ``--steps`` trivial steps: ``mlopsdsl compile FILE --backend ir|argo|kfp``;
   kfp: a script that defines the same chain with ``@dsl.component``/``@dsl.pipeline`` and runs
   ``Compiler().compile``; hera: a script that builds the equivalent Workflow and writes ``to_yaml()``.
2. Run start-up: ``mlopsdsl run`` of a one-step pipeline whose step returns ``time.time()``: from this
   script's start of the process to the step's first line, and the whole command; kfp.local
   (``SubprocessRunner(use_venv=False)``, no pip install) the same way.
3. Per-step overhead: ``mlopsdsl run --no-cache`` of chains of each ``--run-steps`` length with each
   executor, (T(long) - T(short)) / (long - short), so that start-up cancels out; kfp.local the same.
4. In process, 500 steps: ``ml.compile`` of a fresh pipeline (trace, IR, validation, compile) against
   kfp (trace + ``Compiler().compile``) and hera (build + ``to_yaml``), best of ``--repeat``.
   Then the compiled sizes of the same chains, ours and the peer's, at 20 steps and at that length: ours
   by default (the step runtime bundle in the document) and with ``runtime="image"`` (nothing shipped).
5. Linearity: build + validate, each compiler (Argo, KFP, IR JSON), and an in-process run, in time per
   step, at each size.
"""

import argparse
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PY = sys.executable
BIN = Path(PY).parent
MLOPSDSL = str(BIN / "mlopsdsl")

OURS = """
import mlopsdsl as ml


@ml.step
def inc(x: int) -> int:
    return x + 1


@ml.pipeline(name="chain__N__")
def chain(x: int = 0) -> int:
    value = inc(x=x)
    for _ in range(__N__ - 1):
        value = inc(x=value)
    return value
"""

FIRST = """
import time
import mlopsdsl as ml


@ml.step(cache=False)
def now() -> float:
    return time.time()


@ml.pipeline
def first() -> float:
    return now()
"""

KFP = """
import sys, warnings
warnings.simplefilter("ignore")
from kfp import compiler, dsl


@dsl.component(base_image="python:3.11-slim")
def inc(x: int) -> int:
    return x + 1


@dsl.pipeline(name="chain__N__")
def chain(x: int = 0) -> int:
    task = inc(x=x)
    for _ in range(__N__ - 1):
        task = inc(x=task.output)
    return task.output


compiler.Compiler().compile(chain, sys.argv[1])
"""

HERA = """
import sys
from hera.workflows import DAG, Container, Parameter, Workflow, models

with Workflow(generate_name="chain-", entrypoint="chain", arguments={"start": "0"}) as workflow:
    inc = Container(
        name="inc",
        image="python:3.11-slim",
        command=["python", "-c", "import sys; open('/tmp/out', 'w').write(str(int(sys.argv[1]) + 1))"],
        args=["{{inputs.parameters.x}}"],
        inputs=[Parameter(name="x")],
        outputs=[Parameter(name="output", value_from=models.ValueFrom(path="/tmp/out"))],
    )
    with DAG(name="chain", inputs=[Parameter(name="start")]):
        previous = inc(name="inc", arguments={"x": "{{inputs.parameters.start}}"})
        for i in range(2, __N__ + 1):
            source = f"{{{{tasks.{previous.name}.outputs.parameters.output}}}}"
            task = inc(name=f"inc-{i}", arguments={"x": source})
            previous >> task
            previous = task
with open(sys.argv[1], "w") as handle:
    handle.write(workflow.to_yaml())
"""


KFP_LOCAL = """
import os, sys, time, warnings
warnings.simplefilter("ignore")
from kfp import dsl, local

local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=os.path.abspath("kfp-outputs"))


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def inc(x: int) -> int:
    return x + 1


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def now() -> float:
    import time
    return time.time()


@dsl.pipeline
def chain(x: int = 0) -> int:
    task = inc(x=x)
    for _ in range(__N__ - 1):
        task = inc(x=task.output)
    return task.output


@dsl.pipeline
def first() -> float:
    return now().output


if sys.argv[1] == "first":
    print("output:", first().output)
else:
    assert chain().output == __N__
"""


def measure(cmd: list[str], repeat: int, cwd: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Median wall and CPU seconds of ``repeat`` runs of ``cmd``, and the last run's stdout."""
    return interleaved({"only": cmd}, repeat, cwd, env)["only"]


def once(cmd: list[str], cwd: str, env: dict[str, str] | None) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system of the finished child, from the kernel) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, done.stdout


def interleaved(
    cmds: dict[str, list[str]], repeat: int, cwd: str, env: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """Median wall and CPU seconds of each command, run in turns (round 1 of each, round 2 of each, ...),
    so that a change in the machine's load during the run weighs on every command alike."""
    walls: dict[str, list[float]] = {k: [] for k in cmds}
    cpus: dict[str, list[float]] = {k: [] for k in cmds}
    outs: dict[str, str] = {}
    for _ in range(repeat):
        for key, cmd in cmds.items():
            wall, cpu, outs[key] = once(cmd, cwd, env)
            walls[key].append(wall)
            cpus[key].append(cpu)
    return {
        k: {"wall": statistics.median(walls[k]), "cpu": statistics.median(cpus[k]), "out": outs[k]}
        for k in cmds
    }


def instructions(cmd: list[str], cwd: str) -> int | None:
    """Instructions one run of ``cmd`` executes in user space (valgrind's callgrind; ~50x slower): a count
    that the machine's load does not change, where wall and CPU times on a shared machine do."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    for line in done.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1].strip())
    return None


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def to_first_step(cmd: list[str], repeat: int, cwd: str, env: dict[str, str]) -> tuple[float, float]:
    """Median seconds from starting ``cmd`` to its one step's first line (the step prints time.time()),
    and of the whole command."""
    firsts, walls = [], []
    for _ in range(repeat):
        started_at = time.time()
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
        line = next(x for x in done.stdout.splitlines() if x.startswith("output:"))
        firsts.append(float(line.split(":", 1)[1]) - started_at)
    return statistics.median(firsts), statistics.median(walls)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def compile_section(n: int, repeat: int, work: str, peers: bool, count: bool) -> None:
    Path(work, "chain.py").write_text(OURS.replace("__N__", str(n)))
    Path(work, "kfp_chain.py").write_text(KFP.replace("__N__", str(n)))
    Path(work, "hera_chain.py").write_text(HERA.replace("__N__", str(n)))
    print(f"\n1. Cold compile, whole process, chain of {n} steps (median of {repeat}, in turns: wall / CPU)")
    print(f"   before: {load()}")
    cmds = {b: [MLOPSDSL, "compile", "chain.py", "-b", b, "-o", f"o.{b}"] for b in ("ir", "argo", "kfp")}
    if peers:
        cmds["kfp (dsl + Compiler)"] = [PY, "kfp_chain.py", "kfp.yaml"]
        cmds["hera (Workflow + to_yaml)"] = [PY, "hera_chain.py", "hera.yaml"]
    got = interleaved(cmds, repeat, work)
    counts = {k: instructions(cmd, work) for k, cmd in cmds.items()} if count else {}
    for key, row in got.items():
        label = f"mlopsdsl compile --backend {key}" if key in ("ir", "argo", "kfp") else key
        extra = f"   {counts[key] / 1e6:,.0f} M instructions" if counts.get(key) else ""
        print(f"   {label:32} {ms(row['wall']):>9} / {ms(row['cpu']):>8}{extra}")
    if peers:
        for label, peer, mine in (
            ("kfp / mlopsdsl kfp", "kfp (dsl + Compiler)", "kfp"),
            ("hera / mlopsdsl argo", "hera (Workflow + to_yaml)", "argo"),
        ):
            theirs, ours = got[peer], got[mine]
            ratio = f"{theirs['wall'] / ours['wall']:.1f}x wall, {theirs['cpu'] / ours['cpu']:.1f}x CPU"
            peer_count, our_count = counts.get(peer), counts.get(mine)
            if peer_count and our_count:
                ratio += f", {peer_count / our_count:.1f}x instructions"
            print(f"   {label:32} {ratio}")
    print(f"   after: {load()}")


def startup_section(repeat: int, work: str, peers: bool) -> None:
    Path(work, "first.py").write_text(FIRST)
    env = {**os.environ, "MLOPSDSL_HOME": str(Path(work, "home"))}
    print(f"\n2. Run start-up: a one-step pipeline, whole process (median of {repeat})")
    print(f"   before: {load()}")
    floor = measure([PY, "-c", "pass"], repeat, work)
    print(f"   python -c pass (the floor)          {ms(floor['wall'])} wall / {ms(floor['cpu'])} CPU")
    for executor in ("fork", "subprocess"):
        first, whole = to_first_step([MLOPSDSL, "run", "first.py", "--executor", executor], repeat, work, env)
        print(
            f"   mlopsdsl run --executor {executor:10} to the step: {ms(first):>8}"
            f"   whole command: {ms(whole)}"
        )
    first, whole = to_first_step([MLOPSDSL, "run", "first.py", "--in-process"], repeat, work, env)
    print(f"   mlopsdsl run --in-process           to the step: {ms(first):>8}   whole command: {ms(whole)}")
    if peers:
        Path(work, "kfp_local.py").write_text(KFP_LOCAL.replace("__N__", "1"))
        first, whole = to_first_step([PY, "kfp_local.py", "first"], repeat, work, env)
        print(
            f"   kfp.local (no venv, no pip)         to the step: {ms(first):>8}   whole command: {ms(whole)}"
        )
    print(f"   after: {load()}")


def per_step_section(lengths: list[int], repeat: int, work: str, peers: bool) -> None:
    short, long = lengths
    env = {**os.environ, "MLOPSDSL_HOME": str(Path(work, "home"))}
    for n in lengths:
        Path(work, f"chain{n}.py").write_text(OURS.replace("__N__", str(n)))
    print(
        f"\n3. Per-step overhead: (T({long}) - T({short})) / {long - short}, whole `run`, cache off "
        f"(median of {repeat})"
    )
    rows = {}
    for label, extra in (
        ("fork", ["--executor", "fork"]),
        ("subprocess", ["--executor", "subprocess"]),
        ("in-process", ["--in-process"]),
    ):
        t = {
            n: measure([MLOPSDSL, "run", f"chain{n}.py", "--no-cache", *extra], repeat, work, env)
            for n in lengths
        }
        rows[label] = (t[long]["wall"] - t[short]["wall"]) / (long - short)
        cpu = (t[long]["cpu"] - t[short]["cpu"]) / (long - short)
        print(
            f"   mlopsdsl {label:11} {ms(rows[label]):>8}/step wall, {ms(cpu):>8}/step CPU "
            f"(T({short}) {ms(t[short]['wall'])}, T({long}) {ms(t[long]['wall'])})"
        )
    if peers:
        t = {}
        for n in lengths:
            Path(work, f"kfp_local{n}.py").write_text(KFP_LOCAL.replace("__N__", str(n)))
            t[n] = measure([PY, f"kfp_local{n}.py", "chain"], repeat, work, env)
        peer = (t[long]["wall"] - t[short]["wall"]) / (long - short)
        print(
            f"   kfp.local (no venv)  {ms(peer):>8}/step wall "
            f"(T({short}) {ms(t[short]['wall'])}, T({long}) {ms(t[long]['wall'])})"
        )
        for label, mine in rows.items():
            if mine > 0:
                print(f"   kfp.local / mlopsdsl {label:11} {peer / mine:.1f}x")
            else:  # in process, a step costs less than the noise of two whole runs: see section 5
                print(f"   kfp.local / mlopsdsl {label:11} n/a (below the noise of whole runs)")


def best(fn: Callable[[], object], repeat: int, cpu: bool = False) -> float:
    """The shortest of ``repeat`` calls: wall time, or with ``cpu`` this process's CPU time (on a shared
    machine the wall time of a call in process carries the other jobs' load)."""
    clock = time.process_time if cpu else time.perf_counter
    times = []
    for _ in range(repeat):
        started = clock()
        fn()
        times.append(clock() - started)
    return min(times)


def in_process_section(n: int, repeat: int, peers: bool) -> None:
    import warnings

    from _chains import chain

    import mlopsdsl as ml

    print(f"\n4. In process, chain of {n} steps (best of {repeat}: wall / CPU)")
    ml.compile(chain(10), backend="kfp"), ml.compile(chain(10), backend="argo")  # first use, not measured
    kfp_ours = best(lambda: ml.compile(chain(n), backend="kfp"), repeat)
    argo_ours = best(lambda: ml.compile(chain(n), backend="argo"), repeat)
    kfp_cpu = best(lambda: ml.compile(chain(n), backend="kfp"), repeat, cpu=True)
    argo_cpu = best(lambda: ml.compile(chain(n), backend="argo"), repeat, cpu=True)
    print(f"   ml.compile kfp  (trace, IR, validation, compile) {ms(kfp_ours)} / {ms(kfp_cpu)}")
    print(f"   ml.compile argo (trace, IR, validation, compile) {ms(argo_ours)} / {ms(argo_cpu)}")
    if not peers:
        return
    warnings.simplefilter("ignore")
    from bench_argo import hera_chain
    from bench_kfp import theirs
    from kfp import compiler

    path = os.path.join(tempfile.mkdtemp(), "kfp.yaml")
    kfp = best(lambda: compiler.Compiler().compile(theirs(n), path), max(1, min(repeat, 3)))
    hera = best(lambda: hera_chain(n), repeat)
    kfp_peer_cpu = best(
        lambda: compiler.Compiler().compile(theirs(n), path), max(1, min(repeat, 3)), cpu=True
    )
    hera_cpu = best(lambda: hera_chain(n), repeat, cpu=True)
    print(
        f"   kfp  (trace + Compiler().compile) {ms(kfp)} / {ms(kfp_peer_cpu)}:"
        f" {kfp / kfp_ours:.1f}x wall, {kfp_peer_cpu / kfp_cpu:.1f}x CPU"
    )
    print(
        f"   hera (build + to_yaml)            {ms(hera)} / {ms(hera_cpu)}:"
        f" {hera / argo_ours:.1f}x wall, {hera_cpu / argo_cpu:.1f}x CPU"
    )
    print('   compiled sizes, ours / peer\'s (the same chain), by default and with runtime="image":')
    for size in sorted({20, n}):
        compiler.Compiler().compile(theirs(size), path)
        peer = {"KFP": os.path.getsize(path), "Argo": len(hera_chain(size).encode())}
        parts = []
        for label, backend in (("KFP", "kfp"), ("Argo", "argo")):
            ours = len(ml.compile(chain(size), backend=backend).encode())
            image = len(ml.compile(chain(size), backend=backend, runtime="image").encode())
            parts.append(
                f"{label} {ours / 1000:.1f} / {peer[label] / 1000:.1f} KB ({ours / peer[label]:.2f}),"
                f" image {image / 1000:.1f} KB ({image / peer[label]:.2f})"
            )
        print(f"   N={size:>4}: " + "; ".join(parts))


def linear_section(sizes: list[int], run_sizes: list[int]) -> None:
    from _chains import chain

    import mlopsdsl as ml
    from mlopsdsl import backends

    print("\n5. Linearity, time per step (process CPU time; run: wall and CPU)")
    ml.compile(chain(10), backend="kfp"), ml.compile(chain(10), backend="argo")
    argo, kfp, ir_ = backends.load("argo"), backends.load("kfp"), backends.load("ir")
    for n in sizes:
        pipeline = chain(n)
        t0 = time.process_time()
        document = pipeline.build()
        t1 = time.process_time()
        backends.compile_document(argo, document)
        t2 = time.process_time()
        backends.compile_document(kfp, document)
        t3 = time.process_time()
        backends.compile_document(ir_, document)
        t4 = time.process_time()
        del document, pipeline
        gc.collect()
        print(
            f"   N={n:>6}: build + validate {1e6 * (t1 - t0) / n:6.1f} us"
            f"   argo {1e6 * (t2 - t1) / n:6.1f} us"
            f"   kfp {1e6 * (t3 - t2) / n:6.1f} us"
            f"   ir {1e6 * (t4 - t3) / n:6.1f} us"
        )
    home = tempfile.mkdtemp()
    ml.run(chain(10), home=home, progress=False, in_process=True, cache=False)
    for n in run_sizes:
        pipeline = chain(n)
        pipeline.build()
        wall, cpu = time.perf_counter(), time.process_time()
        result = ml.run(pipeline, home=home, progress=False, in_process=True, cache=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert result.output == n
        print(
            f"   N={n:>6}: in-process run {1e3 * wall / n:6.2f} ms/step wall,"
            f" {1e3 * cpu / n:6.2f} ms/step CPU"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--run-steps", type=int, nargs=2, default=[20, 200])
    parser.add_argument("--in-process-steps", type=int, default=500)
    parser.add_argument("--linear", type=int, nargs="*", default=[100, 1000, 10000])
    parser.add_argument("--linear-run", type=int, nargs="*", default=[100, 10000])
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument(
        "--instructions", action="store_true", help="Also count each compile's instructions (valgrind)."
    )
    parser.add_argument("--only", choices=["compile", "startup", "steps", "inprocess", "linear"], nargs="*")
    args = parser.parse_args()
    repeat = max(5, args.repeat)
    peers = not args.skip_peers
    sys.path.insert(0, str(HERE))
    versions = {}
    for name in ("kfp", "hera", "pydantic", "typer"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            versions[name] = "absent"
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
    )
    work = tempfile.mkdtemp(prefix="bench-whole-")
    # .pyc files written once, so no run pays for compiling sources (PYTHONDONTWRITEBYTECODE would).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    Path(work, "warm.py").write_text(OURS.replace("__N__", "3"))
    for backend in ("ir", "argo", "kfp"):
        subprocess.run(
            [MLOPSDSL, "compile", "warm.py", "-b", backend, "-o", "warm.out"],
            cwd=work,
            check=True,
            capture_output=True,
        )
    only = set(args.only or ["compile", "startup", "steps", "inprocess", "linear"])
    if "compile" in only:
        compile_section(args.steps, repeat, work, peers, args.instructions)
    if "startup" in only:
        startup_section(repeat, work, peers)
    if "steps" in only:
        per_step_section(args.run_steps, repeat, work, peers)
    if "inprocess" in only:
        in_process_section(args.in_process_steps, repeat, peers)
    if "linear" in only:
        linear_section(args.linear, args.linear_run)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
