"""The Grafana dashboard shipped in ``dashboards/`` is built on the names the runtime pushes: after runs
that succeed, hit the cache and retry, every query of every panel returns data from a real Prometheus."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlopsdsl as ml

sys.path.insert(0, str(Path(__file__).parent))
from tracking_pipelines import flaky, tracked
from tracking_servers import Prometheus

DASHBOARD = Path(__file__).parents[2] / "dashboards" / "mlopsdsl.json"


def test_every_panel_query_returns_data(prometheus: Prometheus, tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    home = tmp_path / "home"
    gateway = prometheus.pushgateway
    ml.run(tracked, home=home, progress=False, pushgateway=gateway, epochs=2)
    ml.run(tracked, home=home, progress=False, pushgateway=gateway, epochs=2)  # all cache hits
    folder = tmp_path / "state"
    folder.mkdir()
    ml.run(flaky, home=home, progress=False, pushgateway=gateway, folder=str(folder))
    queries = [
        (panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel["targets"]
    ]
    assert len(queries) >= 10
    # The pipeline variable's "All" value, as Grafana substitutes it.
    for title, expr in queries:
        assert "mlopsdsl_" in expr, title
        result = prometheus.wait_for(expr.replace("$pipeline", ".+"))
        assert result, f"panel {title!r}: {expr} returned no data"
