"""A stand-in Argo Server on 127.0.0.1: the REST routes ``submit``, ``publish``, ``runs show`` and ``logs``
use, in memory.

It checks the bearer token, validates every object it receives with hera's strict models (unknown fields
are errors, as a real server's strict decoding would make them), keeps ``resourceVersion`` so that a stale
update is a 409 as on Kubernetes, and moves each workflow through ``Running`` to a chosen final phase.
A finished workflow's status lists one ``Pod`` node per task of its entrypoint DAG, with the output
parameters the test gives (``node_outputs``), and the log route streams the lines the test gives
(``pod_logs``, by pod name) as Argo's newline-delimited log entries.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ROUTES = {
    "workflows": ("workflow", "Workflow"),
    "workflow-templates": ("template", "WorkflowTemplate"),
    "cron-workflows": ("cronWorkflow", "CronWorkflow"),
}


@dataclass
class State:
    token: str | None = None
    final_phase: str = "Succeeded"
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    gets: dict[str, int] = field(default_factory=dict)
    counter: int = 0
    node_outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    """Task -> output parameter -> text, reported in the finished workflow's nodes."""
    pod_logs: dict[str, list[str]] = field(default_factory=dict)


def _validate(kind: str, obj: dict[str, Any]) -> None:
    from hera.workflows import models

    getattr(models, kind).model_validate(copy.deepcopy(obj), strict=True, extra="forbid")


class _Handler(BaseHTTPRequestHandler):
    state: State

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"code": {401: 16, 404: 5, 409: 6}.get(status, 3), "message": message})

    def _handle(self, method: str) -> None:
        state = self.state
        state.requests.append((method, self.path, dict(self.headers)))
        if state.token is not None and self.headers.get("Authorization") != f"Bearer {state.token}":
            return self._error(401, "token not valid")
        parts = self.path.split("?")[0].strip("/").split("/")
        if (
            parts[:3] == ["api", "v1", "workflows"]
            and len(parts) == 6
            and parts[5] == "log"
            and method == "GET"
        ):
            return self._log(parts[4])
        if parts[:2] != ["api", "v1"] or len(parts) not in (4, 5) or parts[2] not in ROUTES:
            return self._error(404, f"no route {self.path}")
        key, kind = ROUTES[parts[2]]
        namespace = parts[3]
        body: dict[str, Any] = {}
        if method in ("POST", "PUT"):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if method == "POST" and len(parts) == 4:
            return self._create(kind, key, namespace, body)
        if len(parts) != 5:
            return self._error(404, "not found")
        name = parts[4]
        current = state.objects.get((kind, namespace, name))
        if current is None:
            return self._error(404, f'{parts[2]}.argoproj.io "{name}" not found')
        if method == "GET":
            return self._send(200, self._advance(kind, current))
        if method == "PUT":
            obj = body.get(key) or {}
            try:
                _validate(kind, obj)
            except Exception as exc:
                return self._error(400, str(exc)[:500])
            if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                return self._error(
                    409, "the object has been modified; please apply your changes to the latest version"
                )
            state.counter += 1
            obj["metadata"]["resourceVersion"] = str(state.counter)
            state.objects[(kind, namespace, name)] = obj
            return self._send(200, obj)
        return self._error(405, "method not allowed")

    def _create(self, kind: str, key: str, namespace: str, body: dict[str, Any]) -> None:
        state = self.state
        obj = body.get(key)
        if not isinstance(obj, dict):
            return self._error(400, f"request has no {key}")
        try:
            _validate(kind, obj)
        except Exception as exc:
            return self._error(400, str(exc)[:500])
        meta = obj["metadata"]
        state.counter += 1
        if "name" not in meta:
            meta["name"] = f"{meta.pop('generateName')}x{state.counter:04d}"
        if (kind, namespace, meta["name"]) in state.objects:
            return self._error(409, f'{kind} "{meta["name"]}" already exists')
        meta["namespace"] = namespace
        meta["resourceVersion"] = str(state.counter)
        if kind == "Workflow":
            obj["status"] = {"phase": "Pending"}
        state.objects[(kind, namespace, meta["name"])] = obj
        self._send(200, obj)

    def _advance(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        if kind == "Workflow":
            name = obj["metadata"]["name"]
            seen = self.state.gets[name] = self.state.gets.get(name, 0) + 1
            obj["status"] = {"phase": "Running" if seen < 2 else self.state.final_phase}
            if seen >= 2:
                obj["status"].update(
                    startedAt="2026-01-01T00:00:00Z",
                    finishedAt="2026-01-01T00:01:00Z",
                    nodes=self._nodes(obj),
                )
        return obj

    def _nodes(self, workflow: dict[str, Any]) -> dict[str, Any]:
        name = workflow["metadata"]["name"]
        templates = {t["name"]: t for t in workflow["spec"]["templates"]}
        tasks = templates[workflow["spec"]["entrypoint"]].get("dag", {}).get("tasks", [])
        nodes: dict[str, Any] = {}
        for i, task in enumerate(tasks):
            outputs = self.state.node_outputs.get(task["name"], {})
            nodes[f"{name}-{i}"] = {
                "id": f"{name}-{i}",
                "name": f"{name}.{task['name']}",
                "displayName": task["name"],
                "type": "Pod",
                "templateName": task["template"],
                "phase": self.state.final_phase,
                "startedAt": f"2026-01-01T00:00:{i:02d}Z",
                "finishedAt": f"2026-01-01T00:00:{i + 1:02d}Z",
                "outputs": {"parameters": [{"name": k, "value": v} for k, v in outputs.items()]},
            }
        return nodes

    def _log(self, workflow: str) -> None:
        from urllib.parse import parse_qs, urlparse

        query = parse_qs(urlparse(self.path).query)
        pod = (query.get("podName") or [""])[0]
        if (query.get("logOptions.container") or [""])[0] != "main":
            return self._error(400, "this stand-in serves the main container's logs only")
        lines = self.state.pod_logs.get(pod, [])
        data = "".join(
            json.dumps({"result": {"content": line, "podName": pod}}) + "\n" for line in lines
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")


@contextmanager
def argo_server(token: str | None = None) -> Iterator[tuple[str, State]]:
    """Serve on a free port of 127.0.0.1; yields the URL and the server's state."""
    state = State(token=token)
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
