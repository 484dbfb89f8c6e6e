"""The store's promises, on a local folder and on the S3 test server: round trips of files and folders,
digests checked on read, nothing visible after a failed write, and streaming in bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import mlopsdsl as ml
from mlopsdsl.runtime import execute
from mlopsdsl.runtime._io import IntegrityError, copy_into, sha256_path
from mlopsdsl.runtime._remote import fetch, store


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    (folder / "weights").mkdir(parents=True)
    (folder / "config.json").write_text('{"layers": 2}')
    (folder / "weights" / "a.bin").write_bytes(os.urandom(3000))
    (folder / "weights" / "b.bin").write_bytes(b"")
    return folder


def test_files_and_folders_round_trip_through_s3(tmp_path: Path, s3_root: str, s3fs_client: Any) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(100_000))
    uri, digest, size = store(str(data), s3_root)
    assert (digest, size) == (*sha256_path(str(data)),) and uri == f"{s3_root}/sha256/{digest[:2]}/{digest}"
    fetch(uri, digest, str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data.read_bytes()

    folder = _folder(tmp_path)
    uri, digest, size = store(str(folder), s3_root)
    assert digest == sha256_path(str(folder))[0] and size == 3000 + len('{"layers": 2}')
    fetch(uri, digest, str(tmp_path / "folder-back"), is_dir=True)
    assert _tree(tmp_path / "folder-back") == _tree(folder)
    # Storing the same bytes again is a no-op: content addressing dedupes.
    before = sorted(s3fs_client.find(s3_root))
    assert store(str(folder), s3_root)[1] == digest and sorted(s3fs_client.find(s3_root)) == before


def test_a_corrupted_s3_blob_is_detected(tmp_path: Path, s3_root: str, s3fs_client: Any) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"the real bytes")
    uri, digest, _ = store(str(data), s3_root)
    s3fs_client.pipe_file(uri, b"the fake bytes")
    with pytest.raises(IntegrityError, match=f"but {digest} was recorded when it was written"):
        fetch(uri, digest, str(tmp_path / "back.bin"))
    assert not (tmp_path / "back.bin").exists()  # nothing under the final name
    assert not list(tmp_path.glob("back.bin*"))


def test_a_corrupted_local_blob_fails_the_consuming_step_clearly(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("a,b\n")
    digest, _ = sha256_path(str(source))
    source.write_text("a,c\n")  # changed after its digest was recorded
    spec = {
        "version": 1,
        "step": "reader",
        "code": {"mode": "import", "module": "m", "qualname": "f"},
        "inputs": [
            {"name": "data", "kind": "artifact", "file": str(source), "sha256": digest, "type": "Dataset"}
        ],
        "outputs": [{"name": "output", "kind": "json"}],
        "returns": "single",
    }
    result = execute(spec, function=lambda data: 1)
    assert not result["ok"] and result["error"]["phase"] == "inputs"
    assert result["error"]["type"] == "IntegrityError"
    assert f"{source} has sha256 " in result["error"]["message"]
    assert "the stored data was changed or damaged" in result["error"]["message"]


def test_a_damaged_cached_output_is_a_miss_reported_recomputed_and_repaired(tmp_path: Path) -> None:
    import storage_pipelines as sp

    import mlopsdsl as ml

    @ml.pipeline
    def biggest(n: int = 4) -> float:
        return sp.array_max(a=sp.make_array(n=n))

    first = ml.run(biggest, home=tmp_path, progress=False)
    record = first.step("make_array").outputs["output"]
    blob = tmp_path / "blobs" / "sha256" / record["sha256"][:2] / record["sha256"]
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # same size: only the digest can tell
    blob.write_bytes(bytes(data))
    again = ml.run(biggest, home=tmp_path, progress=False)
    assert again.output == 3.0
    assert again.step("make_array").status == "succeeded"  # the damaged entry was not used
    step = json.loads((again.run_dir / "steps" / "make_array.json").read_text())
    assert "is damaged" in step["cache_damaged"] and str(blob) in step["cache_damaged"]
    assert blob.read_bytes() != bytes(data)  # the fresh output repaired the blob
    assert ml.run(biggest, home=tmp_path, progress=False).step("make_array").status == "cached"


def test_a_damaged_cached_folder_is_recomputed_and_replaced(tmp_path: Path) -> None:
    import storage_pipelines as sp

    @ml.pipeline
    def model() -> ml.Model:
        return sp.write_model()

    first = ml.run(model, home=tmp_path, progress=False, in_process=True)
    digest = first.step("write_model").outputs["output"]["sha256"]
    weights = tmp_path / "blobs" / "sha256" / digest[:2] / digest / "weights" / "w.bin"
    weights.write_bytes(b"damaged")
    again = ml.run(model, home=tmp_path, progress=False, in_process=True)
    assert again.step("write_model").status == "succeeded"
    assert weights.read_bytes() == bytes(range(256)) * 4
    assert Path(again.output.path, "weights", "w.bin").read_bytes() == bytes(range(256)) * 4


def test_a_corrupted_s3_input_fails_the_consuming_step(
    tmp_path: Path, s3_root: str, s3fs_client: Any
) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"one")
    uri, digest, _ = store(str(data), s3_root)
    s3fs_client.pipe_file(uri, b"two")
    spec = {
        "version": 1,
        "step": "reader",
        "code": {"mode": "import", "module": "m", "qualname": "f"},
        "inputs": [{"name": "data", "kind": "artifact", "uri": uri, "sha256": digest}],
        "outputs": [{"name": "output", "kind": "json"}],
        "returns": "single",
        "scratch": str(tmp_path / "scratch"),
    }
    result = execute(spec, function=lambda data: 1)
    assert result["error"]["type"] == "IntegrityError" and uri in result["error"]["message"]
    assert not list((tmp_path / "scratch").rglob("*"))  # the scratch is cleaned up


def _failing_writer_spec(tmp_path: Path, **output: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "step": "writer",
        "code": {"mode": "import", "module": "m", "qualname": "f"},
        "inputs": [],
        "outputs": [{"name": "output", "kind": "object", **output}],
        "returns": "single",
    }


class Half:
    """A value whose serialiser writes half a file and then fails."""


def _half_dump(value: Half, path: str) -> None:
    with open(path, "wb") as handle:
        handle.write(b"x" * 1000)
        raise OSError("disk full")


def _half_load(path: str) -> Half:
    return Half()


@pytest.fixture
def half_serializer() -> Any:
    from mlopsdsl.runtime import serializers

    saved = list(serializers._USER)
    serializers.register_serializer(Half, name="half-v1", dump=_half_dump, load=_half_load)
    yield
    serializers._USER[:] = saved


def test_a_failing_writer_leaves_nothing_under_the_final_name(
    tmp_path: Path, s3_root: str, s3fs_client: Any, half_serializer: None
) -> None:
    final = tmp_path / "out" / "output"
    result = execute(_failing_writer_spec(tmp_path, file=str(final)), function=Half)
    assert result["error"]["phase"] == "outputs" and "disk full" in result["error"]["message"]
    assert not final.exists() and not list((tmp_path / "out").iterdir())
    result = execute(_failing_writer_spec(tmp_path, store=s3_root), function=Half)
    assert result["error"]["phase"] == "outputs"
    assert s3fs_client.find(s3_root) == []
    # A returned artifact whose file vanishes midway: no partial copy under the final name either.
    spec = _failing_writer_spec(tmp_path, file=str(final))
    spec["outputs"][0]["kind"] = "artifact"
    from mlopsdsl.artifacts import Dataset

    result = execute(spec, function=lambda: Dataset(path=str(tmp_path / "missing.csv")))
    assert result["error"]["type"] == "FileNotFoundError" and not final.exists()


_MEASURE = """
import sys, tracemalloc
from mlopsdsl.runtime._remote import fetch, store
big, root, back = sys.argv[1:]
tracemalloc.start()
uri, digest, _ = store(big, root)
_, up = tracemalloc.get_traced_memory()
tracemalloc.reset_peak()
fetch(uri, digest, back)
_, down = tracemalloc.get_traced_memory()
print(up, down)
"""


def test_large_files_stream_in_bounded_memory(tmp_path: Path, s3_root: str) -> None:
    size = 96 << 20
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:
        for _ in range(size >> 20):
            handle.write(os.urandom(1 << 20))
    tracemalloc.start()
    try:
        digest, copied, _ = copy_into(str(big), str(tmp_path / "copy.bin"))
        _, local_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert copied == size and digest == sha256_path(str(big))[0]
    assert local_peak < 4 << 20, local_peak  # a 1 MiB buffer, not the file
    # Through S3, measured in a process of its own (the test server keeps its copy in this one).
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(big), s3_root, str(tmp_path / "back.bin")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    up, down = map(int, done.stdout.split())
    assert sha256_path(str(tmp_path / "back.bin"))[0] == digest
    # Streamed in 8 MiB parts, two at a time (botocore holds a few copies of each part in flight).
    assert down < 40 << 20, down
    assert up < size * 0.9, up  # bounded by the parts in flight, not by the file


def test_the_output_record_can_travel_to_the_consumer_through_a_meta_file(tmp_path: Path) -> None:
    """For backends that cannot put a digest into the consumer's spec at compile time (KFP, Argo): the
    producer writes its output record to ``meta_file`` and the consumer reads it with ``meta``."""
    import numpy as np

    produce = {
        "version": 1,
        "step": "make",
        "code": {"mode": "import", "module": "m", "qualname": "f"},
        "inputs": [],
        "outputs": [
            {
                "name": "output",
                "kind": "object",
                "file": str(tmp_path / "a"),
                "meta_file": str(tmp_path / "a.meta"),
            }
        ],
        "returns": "single",
    }
    assert execute(produce, function=lambda: np.ones(3))["ok"]
    meta = json.loads((tmp_path / "a.meta").read_text())
    assert meta["format"] == "npy" and len(meta["sha256"]) == 64 and "file" not in meta
    consume = {
        "version": 1,
        "step": "use",
        "code": {"mode": "import", "module": "m", "qualname": "f"},
        "inputs": [{"name": "a", "kind": "object", "file": str(tmp_path / "a"), "meta": {"arg": "a_meta"}}],
        "outputs": [{"name": "output", "kind": "json"}],
        "returns": "single",
    }
    result = execute(consume, function=lambda a: float(a.sum()), args={"a_meta": json.dumps(meta)})
    assert result["outputs"]["output"]["value"] == 3.0
    (tmp_path / "a").write_bytes((tmp_path / "a").read_bytes()[:-8] + b"\x00" * 8)
    result = execute(consume, function=lambda a: float(a.sum()), args={"a_meta": json.dumps(meta)})
    assert result["error"]["type"] == "IntegrityError"
