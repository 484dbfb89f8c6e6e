"""Fixtures of the KFP backend tests: the stand-in API server and compiled test pipelines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kfp_server import StandInServer

TOKEN = "s3cr3t-t0ken-value"


@pytest.fixture
def kfp_server() -> Iterator[StandInServer]:
    """A stand-in KFP API server on 127.0.0.1 with a free port, expecting ``TOKEN``."""
    server = StandInServer(token=TOKEN)
    try:
        yield server
    finally:
        server.close()
