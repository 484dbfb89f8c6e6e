"""What the tracking tests talk to: Prometheus' HTTP API (the server itself is started in conftest.py)."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class Prometheus:
    url: str
    pushgateway: str

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result vector of an instant query."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(self, promql: str, count: int = 1) -> list[dict[str, Any]]:
        """The query's result once it has at least ``count`` series (Prometheus scrapes every second)."""
        deadline = time.monotonic() + 60
        while True:
            result = self.query(promql)
            if len(result) >= count or time.monotonic() > deadline:
                return result
            time.sleep(0.5)
