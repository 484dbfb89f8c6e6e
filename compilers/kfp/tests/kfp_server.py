"""A stand-in KFP API server (v2beta1) for the tests, on 127.0.0.1, that checks what it receives.

It implements the endpoints ``kfp.Client`` calls for submit and publish: healthz, pipeline upload and
upload_version (multipart), list pipelines, list versions, experiments (list, create), runs (create, get).
Uploaded packages and run specs are parsed strictly into kfp-pipeline-spec's models (and each Kubernetes
executor config into kfp-kubernetes'), run parameters must be declared by the pipeline, and a request
without the expected bearer token gets 401. Tests can force an HTTP status for a path prefix.
"""

from __future__ import annotations

import email.parser
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s
from kfp.pipeline_spec import pipeline_spec_pb2 as pb

API = "/apis/v2beta1"


def check_package(docs: list[Any]) -> None:
    """Strict parse of a pipeline package's documents; raises on anything unknown or mistyped."""
    json_format.ParseDict(docs[0], pb.PipelineSpec(), ignore_unknown_fields=False)
    for extra in docs[1:]:
        json_format.ParseDict(extra, pb.PlatformSpec(), ignore_unknown_fields=False)
        executors = extra["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        for config in executors.values():
            json_format.ParseDict(config, k8s.KubernetesExecutorConfig(), ignore_unknown_fields=False)


@dataclass
class State:
    token: str | None = None
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    packages: dict[str, list[Any]] = field(default_factory=dict)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    recurring: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Recurring runs by id, as the server holds them (``max_concurrency`` as int64 text)."""
    final_state: str = "SUCCEEDED"
    fail: dict[str, int] = field(default_factory=dict)
    """Path prefix (after /apis/v2beta1) -> HTTP status to answer with."""
    requests: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    counter: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_id(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}-{self.counter:04d}"

    def stamp(self) -> str:
        return f"2026-01-01T00:00:{self.counter:02d}Z"


class Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return

    @property
    def state(self) -> State:
        state: State = self.server.state
        return state

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._reply(status, {"error": message, "code": status, "message": message})

    def _guard(self) -> str | None:
        """The path below /apis/v2beta1, or None when the request was answered with an error."""
        url = urlparse(self.path)
        path = url.path.removeprefix(API)
        with self.state.lock:
            self.state.requests.append(f"{self.command} {path}")
            self.state.headers.append(str(self.headers))
        for prefix, status in self.state.fail.items():
            if path.startswith(prefix):
                self._error(status, f"forced {status} for {prefix}")
                return None
        if self.state.token is not None and self.headers.get("Authorization") != f"Bearer {self.state.token}":
            self._error(401, "Unauthorized: invalid or missing token")
            return None
        return path

    def _query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def do_GET(self) -> None:
        path = self._guard()
        if path is None:
            return
        state, query = self.state, self._query()
        if path == "/healthz":
            self._reply(200, {"multi_user": False})
        elif path == "/pipelines":
            wanted = _filter_name(query.get("filter"))
            found = [p for p in state.pipelines.values() if wanted is None or p["display_name"] == wanted]
            self._reply(200, {"pipelines": found, "total_size": len(found)} if found else {})
        elif path.startswith("/pipelines/") and path.endswith("/versions"):
            pipeline_id = path.split("/")[2]
            if pipeline_id not in state.pipelines:
                self._error(404, f"pipeline {pipeline_id} not found")
                return
            versions = state.versions[pipeline_id]
            self._reply(200, {"pipeline_versions": versions, "total_size": len(versions)})
        elif path == "/experiments":
            wanted = _filter_name(query.get("filter"))
            found = [e for e in state.experiments.values() if e["display_name"] == wanted]
            self._reply(200, {"experiments": found, "total_size": len(found)} if found else {})
        elif path == "/recurringruns":
            wanted = _filter_name(query.get("filter"))
            found = [
                r
                for r in state.recurring.values()
                if (wanted is None or r["display_name"] == wanted)
                and query.get("experiment_id") in (None, r["experiment_id"])
            ]
            # KFP's own JSON name for the list, unlike every other list of the API.
            self._reply(200, {"recurringRuns": found, "total_size": len(found)} if found else {})
        elif path.startswith("/runs/"):
            run = state.runs.get(path.split("/")[2])
            if run is None:
                self._error(404, "run not found")
                return
            run["polls"] += 1
            run["state"] = "RUNNING" if run["polls"] < 2 else state.final_state
            if run["polls"] >= 2:  # finished: its task tree, as run_details.task_details
                tasks = run["spec"][0]["root"].get("dag", {}).get("tasks", {})
                run["run_details"] = {
                    "task_details": [
                        {
                            "task_id": f"task-{i}",
                            "display_name": name,
                            "state": state.final_state,
                            "start_time": f"2026-01-01T00:00:{i:02d}Z",
                            "end_time": f"2026-01-01T00:00:{i + 1:02d}Z",
                        }
                        for i, name in enumerate(sorted(tasks))
                    ]
                }
            self._reply(200, {k: v for k, v in run.items() if k not in ("polls", "spec")})
        else:
            self._error(404, f"no such endpoint {path}")

    def do_POST(self) -> None:
        path = self._guard()
        if path is None:
            return
        state, query = self.state, self._query()
        if path in ("/pipelines/upload", "/pipelines/upload_version"):
            try:
                docs = list(yaml.safe_load_all(_uploaded_file(self.headers["Content-Type"], self._body())))
                check_package(docs)
            except Exception as exc:
                self._error(400, f"invalid pipeline package: {type(exc).__name__}: {exc}")
                return
            if path == "/pipelines/upload":
                name = query["name"]
                if any(p["display_name"] == name for p in state.pipelines.values()):
                    self._error(409, f"pipeline {name} already exists")
                    return
                pipeline_id = state.next_id("pipeline")
                pipeline = {
                    "pipeline_id": pipeline_id,
                    "display_name": name,
                    "description": query.get("description", ""),
                    "created_at": state.stamp(),
                }
                state.pipelines[pipeline_id] = pipeline
                state.versions[pipeline_id] = []
                self._add_version(pipeline_id, name, pipeline["description"], docs)
                self._reply(200, pipeline)
                return
            pipeline_id = query.get("pipelineid", "")
            if pipeline_id not in state.pipelines:
                self._error(404, f"pipeline {pipeline_id} not found")
                return
            if any(v["display_name"] == query["name"] for v in state.versions[pipeline_id]):
                self._error(409, f"version {query['name']} already exists")
                return
            self._reply(
                200, self._add_version(pipeline_id, query["name"], query.get("description", ""), docs)
            )
        elif path == "/experiments":
            body = json.loads(self._body())
            experiment = {"experiment_id": state.next_id("experiment"), "display_name": body["display_name"]}
            state.experiments[experiment["experiment_id"]] = experiment
            self._reply(200, experiment)
        elif path == "/recurringruns":
            self._create_recurring(json.loads(self._body()))
        elif path.startswith("/recurringruns/") and path.endswith((":enable", ":disable")):
            run_id, action = path.split("/")[2].split(":")
            if run_id not in state.recurring:
                self._error(404, f"recurring run {run_id} not found")
                return
            state.recurring[run_id]["mode"] = "ENABLE" if action == "enable" else "DISABLE"
            self._reply(200, {})
        elif path == "/runs":
            body = json.loads(self._body())
            spec = body["pipeline_spec"]
            docs = [spec["pipeline_spec"], spec["platform_spec"]] if "pipeline_spec" in spec else [spec]
            try:
                check_package(docs)
            except Exception as exc:
                self._error(400, f"invalid pipeline spec: {type(exc).__name__}: {exc}")
                return
            declared = docs[0]["root"].get("inputDefinitions", {}).get("parameters", {})
            params = body.get("runtime_config", {}).get("parameters", {}) or {}
            unknown = sorted(set(params) - set(declared))
            if unknown:
                self._error(400, f"unknown parameters {unknown}")
                return
            if body.get("experiment_id") not in state.experiments:
                self._error(404, "experiment not found")
                return
            run_id = state.next_id("run")
            state.runs[run_id] = {
                "run_id": run_id,
                "display_name": body.get("display_name"),
                "experiment_id": body["experiment_id"],
                "state": "PENDING",
                "polls": 0,
                "spec": docs,
                "runtime_config": {"parameters": params},
                "service_account": body.get("service_account"),
            }
            self._reply(200, {k: v for k, v in state.runs[run_id].items() if k not in ("polls", "spec")})
        else:
            self._error(404, f"no such endpoint {path}")

    def do_DELETE(self) -> None:
        path = self._guard()
        if path is None:
            return
        if path.startswith("/recurringruns/") and path.split("/")[2] in self.state.recurring:
            del self.state.recurring[path.split("/")[2]]
            self._reply(200, {})
        else:
            self._error(404, f"no such object {path}")

    def _create_recurring(self, body: dict[str, Any]) -> None:
        """As KFP's API checks a new recurring run: a known experiment and version, one trigger, a limit."""
        state = self.state
        reference = body.get("pipeline_version_reference") or {}
        versions = state.versions.get(reference.get("pipeline_id", ""), [])
        trigger = body.get("trigger") or {}
        limit = int(body.get("max_concurrency") or 0)
        problem = (
            "experiment not found" if body.get("experiment_id") not in state.experiments
            else "pipeline version not found"
            if all(v["pipeline_version_id"] != reference.get("pipeline_version_id") for v in versions)
            else "give exactly one of cron_schedule and periodic_schedule" if len(trigger) != 1
            else "cron must have six fields"
            if "cron_schedule" in trigger and len(trigger["cron_schedule"]["cron"].split()) != 6
            else "max_concurrency must be from 1 to 10" if not 1 <= limit <= 10
            else None
        )  # fmt: skip
        if problem is not None:
            self._error(400, f"invalid recurring run: {problem}")
            return
        if "periodic_schedule" in trigger:  # int64 fields come back as text
            period = trigger["periodic_schedule"]
            trigger = {"periodic_schedule": {**period, "interval_second": str(period["interval_second"])}}
        run_id = state.next_id("recurring")
        state.recurring[run_id] = {
            "recurring_run_id": run_id,
            "display_name": body["display_name"],
            "description": body.get("description"),
            "experiment_id": body["experiment_id"],
            "pipeline_version_reference": reference,
            "trigger": trigger,
            "max_concurrency": str(limit),
            "no_catchup": bool(body.get("no_catchup")),
            "mode": body.get("mode") or "ENABLE",
            "service_account": body.get("service_account") or "",
        }
        self._reply(200, state.recurring[run_id])

    def _add_version(self, pipeline_id: str, name: str, description: str, docs: list[Any]) -> dict[str, Any]:
        state = self.state
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": state.next_id("version"),
            "display_name": name,
            "description": description,
            "created_at": state.stamp(),
        }
        state.versions[pipeline_id].append(version)
        state.packages[version["pipeline_version_id"]] = docs
        return version


def _filter_name(text: str | None) -> str | None:
    if not text:
        return None
    for predicate in json.loads(text).get("predicates", []):
        if predicate.get("key") == "display_name":
            return str(predicate.get("string_value") or predicate.get("stringValue"))
    return None


def _uploaded_file(content_type: str, body: bytes) -> bytes:
    message = email.parser.BytesParser().parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    for part in message.walk():
        if part.get_param("name", header="content-disposition") == "uploadfile":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload
    raise ValueError("no uploadfile part")


class StandInServer:
    """The server, running in a thread; ``url`` is its address, ``state`` what it holds and saw."""

    def __init__(self, token: str | None = None) -> None:
        self.state = State(token=token)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.state = self.state  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
