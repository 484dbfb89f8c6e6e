"""What step metrics cost: the start-up added to every step with metrics off and with a Pushgateway, and
the time to log and push 1,000 metrics.

    python benchmarks/bench_tracking.py [--repeat N]

* **off**: what a step that logs nothing pays for tracking: importing ``mlopsdsl.runtime.tracking`` in a
  fresh interpreter (``-X importtime``, the runtime imports it always) plus opening and closing the
  recorder and building ``ml.current()`` around the call (measured in process, per call).
* **on**: the above plus one push of the step's families to a real ``prometheus-pushgateway`` on
  127.0.0.1 (skipped when the binary is absent), as the runtime does at the end of a pod's attempt.
* **1,000 metrics**: ``ml.log_metric`` 1,000 times inside a run, and pushing them (one family of 1,000
  samples) to the Pushgateway.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mlopsdsl.runtime import push, tracking  # noqa: E402
from mlopsdsl.runtime._main import current  # noqa: E402
from mlopsdsl.runtime._spec import CallSpec  # noqa: E402

SPEC = {
    "version": 1,
    "step": "train",
    "code": {"mode": "import", "module": "x", "qualname": "y"},
    "inputs": [],
    "outputs": [],
    "returns": "none",
    "context": {"run_id": "r-1", "pipeline": "p", "task": "train", "attempt": 1, "backend": "kfp"},
}


def import_ms(repeat: int) -> float:
    """Self time of importing the tracking module in a fresh interpreter (median), in ms."""
    times = []
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import mlopsdsl.runtime.tracking"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        total = 0
        for line in done.stderr.splitlines():
            if "tracking" in line or line.rstrip().endswith(("| contextvars", "| _contextvars", "| math")):
                total += int(line.split("|")[0].split(":")[1])  # self time, us
        times.append(total / 1000)
    return statistics.median(times)


def push_import_ms(repeat: int) -> float:
    """What a pod's fresh interpreter imports to push (the push module, ``socket``, ``binascii``), in ms:
    the cumulative time of each, measured after the runtime itself is imported."""
    times = []
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    code = "import mlopsdsl.runtime; import mlopsdsl.runtime.push, socket, binascii"
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        lines = done.stderr.splitlines()
        start = max(i for i, line in enumerate(lines) if line.rstrip().endswith("| mlopsdsl.runtime"))
        total = 0
        for line in lines[start + 1 :]:
            if line.startswith("import time:") and not line.split("|")[2].startswith("  "):
                total += int(line.split("|")[1])  # cumulative, us, of each top-level import
        times.append(total / 1000)
    return statistics.median(times)


def per_call_ms(repeat: int) -> float:
    """Opening and closing a recorder and building ml.current(), per step call, in ms."""
    spec = CallSpec(SPEC)
    n = 20000
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(n):
            _, token = tracking.start(current(spec, {}))
            tracking.stop(token)
        runs.append((time.perf_counter() - started) / n * 1000)
    return statistics.median(runs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_gateway(repeat: int) -> tuple[float, float, float] | None:
    """(one step's push, logging 1,000 metrics, pushing 1,000 metrics), medians in ms."""
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        return None
    port = _free_port()
    proc = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/-/ready", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        record = {
            "ok": True,
            "step": "train",
            "outputs": {"model": {"size": 1000}},
            "metrics": [{"name": f"m{i}", "value": i} for i in range(5)],
        }
        here = current(CallSpec(SPEC), {})
        os.environ[push.ENV] = url
        one = []
        for _ in range(repeat * 10):
            started = time.perf_counter()
            push.push_attempt(record, here, 0.5, 0)
            one.append((time.perf_counter() - started) * 1000)
        logging, pushing = [], []
        for _ in range(repeat):
            recorder, token = tracking.start(here)
            started = time.perf_counter()
            for i in range(1000):
                tracking.log_metric(f"metric_{i}", i * 0.5, step=i)
            logging.append((time.perf_counter() - started) * 1000)
            tracking.stop(token)
            started = time.perf_counter()
            push.push_attempt({**record, "metrics": recorder.points}, here, 0.5, 0)
            pushing.append((time.perf_counter() - started) * 1000)
        return statistics.median(one), statistics.median(logging), statistics.median(pushing)
    finally:
        os.environ.pop(push.ENV, None)
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    imported = import_ms(repeat)
    call = per_call_ms(repeat)
    off = imported + call
    print(f"metrics off: import {imported:.3f} ms + recorder and current() {call:.4f} ms = {off:.3f} ms/step")
    measured = with_gateway(repeat)
    if measured is None:
        print("with a Pushgateway: skipped (prometheus-pushgateway is not installed)")
        return
    one, logging, pushing = measured
    imports = push_import_ms(repeat)
    total = off + imports + one
    print(f"with a Pushgateway: + imports {imports:.2f} ms + one push {one:.2f} ms = {total:.2f} ms per step")
    print(f"1,000 metrics: ml.log_metric x1000 {logging:.2f} ms, pushing them {pushing:.2f} ms")


if __name__ == "__main__":
    main()
