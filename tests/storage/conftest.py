"""A real S3-compatible server for the storage tests: moto's, on 127.0.0.1 and a free port.

The server starts once per session in a thread of the test process; step subprocesses reach it over
HTTP like any S3 endpoint. Each test gets its own bucket and the usual AWS variables (dummy credentials,
``AWS_ENDPOINT_URL``), which is all s3fs, the runner and the steps are told: nothing is mocked.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

_BUCKETS = itertools.count()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_root(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://<fresh bucket>/artifacts``, with the environment pointing at the test server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("MLOPSDSL_ARTIFACT_ROOT", raising=False)
    monkeypatch.delenv("MLOPSDSL_STORAGE_OPTIONS", raising=False)
    import s3fs

    bucket = f"test-{next(_BUCKETS)}"
    s3fs.S3FileSystem(skip_instance_cache=True).mkdir(bucket)
    return f"s3://{bucket}/artifacts"


@pytest.fixture
def s3fs_client(s3_root: str) -> object:
    import s3fs

    return s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
