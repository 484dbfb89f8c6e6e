"""Artifact storage: a 1 GiB file between two local steps against ``cp``, and a 100 MB numpy array through
S3 (a moto server on 127.0.0.1) against a plain s3fs put/get of the same bytes.

Run: ``.venv/bin/python benchmarks/bench_storage.py [--size-mib 1024] [--repeat 3] [--array-mb 100]``

1. Passing a file artifact between two steps (subprocess executor, caching off), two ways a step can make
   it: returning ``ml.Dataset(path=...)`` for a file written elsewhere (the runtime copies it in while
   hashing it), and writing to ``ml.Dataset.new()`` (the runtime moves it in: no copy). The consumer
   checks the digest before it runs (a full read). Against ``cp`` of the same file on the same disk, in the
   same run. Peak RSS of the runner (this process) and of the largest step process is reported too.
2. A 100 MB float64 array: written by a step to an ``s3://`` store (``.npy``, hashed, uploaded) and read
   by another (downloaded, checked, loaded), against ``s3fs`` ``put_file``/``get_file`` of the same
   ``.npy`` bytes with its defaults. The server runs in its own process.

Budgets (issue 7): the file pass at most 2x ``cp``; the runner under 200 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlopsdsl as ml


@ml.step(cache=False)
def hand_over(path: str) -> ml.Dataset:
    """A step that wrote its file somewhere of its own: the runtime copies it into the store."""
    return ml.Dataset(path=path)


@ml.step(cache=False)
def write_in_place(path: str) -> ml.Dataset:
    """A step that writes where the runtime asks (here: a file made earlier is renamed there)."""
    data = ml.Dataset.new("data.bin")
    os.replace(path, data.path)
    return data


@ml.step(cache=False)
def consume(data: ml.Dataset) -> int:
    return os.path.getsize(data.path)


@ml.pipeline(name="copied")
def copied(path: str) -> int:
    return consume(data=hand_over(path=path))


@ml.pipeline(name="in_place")
def in_place(path: str) -> int:
    return consume(data=write_in_place(path=path))


def _rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def _make_file(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as handle:
        for _ in range(size >> 20):
            handle.write(block)


def _median(runs: list[float]) -> float:
    return statistics.median(runs)


def bench_file(work: Path, size_mib: int, repeat: int) -> dict[str, Any]:
    source = work / "source.bin"
    _make_file(source, size_mib << 20)
    cp_times, copy_times, place_times = [], [], []
    for n in range(repeat):
        target = work / "cp-target.bin"
        started = time.perf_counter()
        subprocess.run(["cp", str(source), str(target)], check=True)
        cp_times.append(time.perf_counter() - started)
        target.unlink()

        home = work / f"home-copy-{n}"
        started = time.perf_counter()
        result = ml.run(copied, path=str(source), home=home, progress=False, cache=False)
        copy_times.append(time.perf_counter() - started)
        assert result.output == size_mib << 20
        shutil.rmtree(home)

        staged = work / "staged.bin"
        subprocess.run(["cp", str(source), str(staged)], check=True)  # not timed: the step's own writing
        home = work / f"home-place-{n}"
        started = time.perf_counter()
        result = ml.run(in_place, path=str(staged), home=home, progress=False, cache=False)
        place_times.append(time.perf_counter() - started)
        assert result.output == size_mib << 20
        shutil.rmtree(home)
    source.unlink()
    return {
        "cp": cp_times,
        "copied": copy_times,
        "in_place": place_times,
        "runner_rss_mib": _rss_mib(resource.RUSAGE_SELF),
        "largest_child_rss_mib": _rss_mib(resource.RUSAGE_CHILDREN),
    }


# --------------------------------------------------------------------------- S3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def bench_s3(work: Path, array_mb: int, repeat: int) -> dict[str, Any]:
    import numpy as np
    import s3fs

    from mlopsdsl.runtime import execute

    array = np.random.default_rng(0).random((array_mb * 1_000_000) // 8)
    with moto_server() as endpoint:
        os.environ.update(
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=endpoint,
        )
        fs = s3fs.S3FileSystem(skip_instance_cache=True)
        fs.mkdir("bench")
        root = "s3://bench/ours"
        common = {
            "version": 1,
            "code": {"mode": "import", "module": "m", "qualname": "f"},
            "returns": "single",
        }
        write_spec = {
            **common,
            "step": "write",
            "inputs": [],
            "outputs": [{"name": "output", "kind": "object", "store": root, "type": "numpy.ndarray"}],
            "scratch": str(work / "scratch"),
        }
        ours_write, ours_read, plain_put, plain_get = [], [], [], []
        for n in range(repeat):
            if n:
                fs.rm("bench", recursive=True)
                fs.mkdir("bench")
            started = time.perf_counter()
            written = execute(write_spec, function=lambda: array)
            ours_write.append(time.perf_counter() - started)
            record = written["outputs"]["output"]
            read_spec = {
                **common,
                "step": "read",
                "inputs": [
                    {
                        "name": "a",
                        "kind": "object",
                        "uri": record["uri"],
                        "sha256": record["sha256"],
                        "format": "npy",
                    }
                ],
                "outputs": [{"name": "output", "kind": "json"}],
                "scratch": str(work / "scratch"),
            }
            started = time.perf_counter()
            got = execute(read_spec, function=lambda a: float(a[-1]))
            ours_read.append(time.perf_counter() - started)
            assert got["ok"] and got["outputs"]["output"]["value"] == float(array[-1]), got
            local = work / "plain.npy"
            np.save(local, array)
            started = time.perf_counter()
            fs.put_file(str(local), "bench/plain/a.npy")
            plain_put.append(time.perf_counter() - started)
            started = time.perf_counter()
            fs.get_file("bench/plain/a.npy", str(work / "plain-back.npy"))
            plain_get.append(time.perf_counter() - started)
            local.unlink()
            (work / "plain-back.npy").unlink()
    return {
        "bytes": int(record["size"]),
        "ours_write": ours_write,
        "ours_read": ours_read,
        "plain_put": plain_put,
        "plain_get": plain_get,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--array-mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-s3", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-storage-", dir=os.environ.get("BENCH_DIR", ".")))
    try:
        report: dict[str, Any] = {"file": bench_file(work, args.size_mib, args.repeat)}
        if not args.no_s3:
            report["s3"] = bench_s3(work, args.array_mb, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    f = report["file"]
    cp, cop, place = _median(f["cp"]), _median(f["copied"]), _median(f["in_place"])
    print(f"{args.size_mib} MiB file artifact between two local steps (median of {args.repeat}):")
    print(f"  cp                                   {cp:6.2f} s   ({', '.join(f'{t:.2f}' for t in f['cp'])})")
    print(f"  return ml.Dataset(path=...) (copy)   {cop:6.2f} s   {cop / cp:4.2f}x cp   (target <= 2x)")
    print(f"  write to ml.Dataset.new() (move)     {place:6.2f} s   {place / cp:4.2f}x cp")
    print(
        f"  peak RSS: runner {f['runner_rss_mib']:.0f} MiB (target < 200), largest step process "
        f"{f['largest_child_rss_mib']:.0f} MiB"
    )
    if "s3" in report:
        s = report["s3"]
        mb = s["bytes"] / 1e6
        for label, ours, plain in (("write", "ours_write", "plain_put"), ("read", "ours_read", "plain_get")):
            o, p = _median(s[ours]), _median(s[plain])
            print(
                f"{mb:.0f} MB numpy array {label}: mlopsdsl {mb / o:6.0f} MB/s ({o:.2f} s), "
                f"s3fs {'put' if label == 'write' else 'get'} {mb / p:6.0f} MB/s ({p:.2f} s): {o / p:.2f}x"
            )
    print(json.dumps(report, indent=None))


if __name__ == "__main__":
    main()
