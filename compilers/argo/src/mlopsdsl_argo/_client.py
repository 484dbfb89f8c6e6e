"""Submitting and publishing through the official Argo Server client (``argo-workflows``).

Imported only by ``submit`` and ``publish``, so compiling never loads the client. Requests go through the
client's API classes (its endpoints, authentication and transport); bodies are the compiled manifests as
plain data and responses are read as JSON, so a client generated for another Argo version than the
server's never rejects a field it does not know.

Every failure is one :class:`RemoteError` line (exit 4): a refused connection, no answer within
``MLOPSDSL_REMOTE_TIMEOUT`` seconds (30 by default), an HTTP error, or a 200 whose body is not the JSON
object expected (an HTML login page, an empty or cut-off body, bytes that are not UTF-8); a creation is
reported only with the name the server gave it. The token and anything credential-shaped are redacted
from every message, including what the server echoes.

Publishing is idempotent: the manifest's sha256 is stored in the ``mlopsdsl.dev/content-digest``
annotation, and a template (or cron workflow) whose stored digest matches is left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import TYPE_CHECKING, Any

from mlopsdsl.backends import PublishResult, RemoteOptions, SubmitResult
from mlopsdsl.errors import RemoteError
from mlopsdsl_argo._launch import METRICS
from mlopsdsl_argo._values import armor

if TYPE_CHECKING:
    from mlopsdsl import ir
    from mlopsdsl.backends import RunView
    from mlopsdsl_argo._backend import ArgoBackend

__all__ = ["publish", "submit"]

ANNOTATION_CONTENT = "mlopsdsl.dev/content-digest"
ANNOTATION_VERSION = "mlopsdsl.dev/version"
DONE = {"Succeeded": True, "Failed": False, "Error": False}


class _Api:
    """The three Argo Server services, with errors turned into :class:`RemoteError`."""

    def __init__(self, options: RemoteOptions) -> None:
        import argo_workflows  # type: ignore[import-untyped]
        from argo_workflows.api import (  # type: ignore[import-untyped]
            cron_workflow_service_api,
            workflow_service_api,
            workflow_template_service_api,
        )

        config = argo_workflows.Configuration(host=options.host.rstrip("/"))
        config.verify_ssl = options.verify_tls
        config.retries = 0  # a refused connection is reported at once, not after urllib3's retries
        if options.token:
            config.api_key = {"BearerToken": options.token}
            config.api_key_prefix = {"BearerToken": "Bearer"}
        self.host = options.host.rstrip("/")
        self.namespace = options.namespace or "default"
        self._token = options.token
        client = argo_workflows.ApiClient(config)
        self.workflows = workflow_service_api.WorkflowServiceApi(client)
        self.templates = workflow_template_service_api.WorkflowTemplateServiceApi(client)
        self.crons = cron_workflow_service_api.CronWorkflowServiceApi(client)

    def call(
        self, what: str, endpoint: Any, name: str | None = None, body: Any = None, missing_ok: bool = False
    ) -> Any:
        """Call one of the client's endpoints; the decoded JSON response, or ``None`` for a 404 when
        ``missing_ok``.

        The endpoint's path, method and authentication come from the client; the body is sent as the
        JSON it is (the generated models' type checks are skipped, see the module docstring).
        """
        import urllib3
        from argo_workflows.exceptions import ApiException  # type: ignore[import-untyped]

        settings = endpoint.settings
        path_params = (
            {"namespace": self.namespace} if name is None else {"namespace": self.namespace, "name": name}
        )
        try:
            response = endpoint.api_client.call_api(
                settings["endpoint_path"],
                settings["http_method"],
                path_params=path_params,
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body,
                auth_settings=settings["auth"],
                _return_http_data_only=True,
                _preload_content=False,
                _request_timeout=_timeout(),
                _check_type=False,
            )
        except ApiException as exc:
            if exc.status == 404 and missing_ok:
                return None
            raise RemoteError(f"{what}: {self._explain(exc)}", exc.status, (self._token,)) from None
        except urllib3.exceptions.HTTPError as exc:  # refused, DNS, TLS, no answer in time...
            reason = getattr(exc, "reason", None) or exc
            slow = [e for e in (exc, reason) if isinstance(e, urllib3.exceptions.TimeoutError)]
            # urllib3 makes a refused connection (NewConnectionError) a kind of connect timeout too.
            if slow and not any(isinstance(e, urllib3.exceptions.NewConnectionError) for e in slow):
                raise RemoteError(
                    f"{what}: the Argo Server at {self.host} did not answer within {_timeout():g} s"
                ) from None
            raise RemoteError(
                f"{what}: cannot reach the Argo Server at {self.host}: {reason}", None, (self._token,)
            ) from None
        return self._decoded(what, response.data)

    def _decoded(self, what: str, data: bytes | None) -> dict[str, Any]:
        """The JSON object of a 200 answer; anything else (a proxy's HTML page, an empty or cut-off body,
        bytes that are not text) is not an answer, whatever its status."""
        try:
            value = json.loads((data or b"").decode("utf-8"))
        except UnicodeDecodeError:
            problem = "bytes that are not UTF-8 text"
        except ValueError:
            text = (data or b"").decode("utf-8", "replace").strip()
            problem = (
                "an empty body" if not text else ("an HTML page" if text.startswith("<") else "cut-off JSON")
            )
        else:
            if isinstance(value, dict):
                return value
            problem = f"a JSON {type(value).__name__}"
        raise RemoteError(
            f"{what}: the Argo Server at {self.host} answered with {problem}, not a JSON object (is --host "
            "the Argo Server's URL?)",
            None,
            (self._token,),
        )

    def text(self, what: str, endpoint: Any, name: str, query: dict[str, str]) -> str:
        """A streamed endpoint's whole body (newline-delimited JSON, as the log endpoint sends it)."""
        import urllib3
        from argo_workflows.exceptions import ApiException

        settings = endpoint.settings
        try:
            response = endpoint.api_client.call_api(
                settings["endpoint_path"],
                settings["http_method"],
                path_params={"namespace": self.namespace, "name": name},
                query_params=list(query.items()),
                header_params={"Accept": "application/json"},
                auth_settings=settings["auth"],
                _return_http_data_only=True,
                _preload_content=False,
                _request_timeout=_timeout(),
                _check_type=False,
            )
        except ApiException as exc:
            raise RemoteError(f"{what}: {self._explain(exc)}", exc.status, (self._token,)) from None
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise RemoteError(
                f"{what}: cannot reach the Argo Server at {self.host}: {reason}", None, (self._token,)
            ) from None
        return bytes(response.data or b"").decode("utf-8", "replace")

    def _explain(self, exc: Any) -> str:
        message = ""
        try:
            body = json.loads(exc.body or b"{}")
            message = body.get("message") or ""
        except (ValueError, AttributeError):
            message = (exc.body or b"").decode("utf-8", "replace") if isinstance(exc.body, bytes) else ""
        hint = {
            401: " (check --token or MLOPSDSL_TOKEN)",
            403: " (the token may not do this in this namespace)",
        }
        text = f"the Argo Server at {self.host} answered {exc.status} {exc.reason}" + (
            f": {message}" if message else ""
        )
        return text + hint.get(exc.status, "")


def _timeout() -> float:
    """Seconds one request may wait for an answer (``MLOPSDSL_REMOTE_TIMEOUT``, default 30)."""
    try:
        return float(os.environ.get("MLOPSDSL_REMOTE_TIMEOUT") or 30)
    except ValueError:
        return 30.0


def _name_of(created: dict[str, Any], what: str, host: str) -> str:
    """The name the server gave what it created: a 200 without one is not a success."""
    name = (created.get("metadata") or {}).get("name") if isinstance(created.get("metadata"), dict) else None
    if not isinstance(name, str) or not name:
        raise RemoteError(f"{what}: the Argo Server at {host} answered without the name of what it created")
    return name


def _with_params(document: ir.Document, manifest: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    from mlopsdsl.errors import ParameterError
    from mlopsdsl.lowering import ARGUMENT_BYTES, argument_problem

    arguments = manifest["spec"]["arguments"]["parameters"]
    for entry in arguments:
        if entry["name"] in params:
            entry["value"] = armor(params[entry["name"]])
            problem = argument_problem(entry["name"], entry["value"], ARGUMENT_BYTES, "argo")
            if problem is not None:
                raise ParameterError(problem)
    missing = [e["name"] for e in arguments if "value" not in e]
    if missing:
        raise RemoteError(
            f"pipeline {document.root!r} needs a value for {', '.join(missing)} (-p name=value)"
        )
    return manifest


def submit(backend: ArgoBackend, document: ir.Document, options: RemoteOptions) -> SubmitResult:
    """Create a Workflow and, with ``options.wait``, poll it until it ends."""
    manifest = _with_params(document, backend.manifest(document, **options.compile_options), options.params)
    if options.run_name:
        if "{{" in options.run_name:
            raise RemoteError(f"--run-name {options.run_name!r} contains '{{{{', which Argo would expand")
        manifest["metadata"].pop("generateName", None)
        manifest["metadata"] = {"name": options.run_name, **manifest["metadata"]}
    api = _Api(options)
    created = api.call(
        "creating the workflow", api.workflows.create_workflow_endpoint, body={"workflow": manifest}
    )
    name = _name_of(created, "creating the workflow", api.host)
    url = f"{api.host}/workflows/{api.namespace}/{name}"
    phase = (created.get("status") or {}).get("phase") or "Pending"
    if not options.wait:
        return SubmitResult(run_id=name, url=url, status=phase)
    deadline = None if options.timeout is None else time.monotonic() + options.timeout
    while phase not in DONE:
        if deadline is not None and time.monotonic() > deadline:
            raise RemoteError(f"workflow {name} is still {phase} after {options.timeout:g}s; stopped waiting")
        time.sleep(backend.poll_interval)
        current = api.call(f"reading workflow {name}", api.workflows.get_workflow_endpoint, name)
        phase = (current.get("status") or {}).get("phase") or "Pending"
    return SubmitResult(run_id=name, url=url, status=phase, succeeded=DONE[phase])


def _digest(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def _put(
    api: _Api, kind: str, manifest: dict[str, Any], version: str, get: Any, create: Any, update: Any, key: str
) -> bool:
    """Create or update one object; ``False`` when the stored one has the same content."""
    name = manifest["metadata"]["name"]
    digest = _digest(manifest)
    annotations = manifest["metadata"].setdefault("annotations", {})
    annotations[ANNOTATION_CONTENT] = digest
    annotations[ANNOTATION_VERSION] = version
    current = api.call(f"reading {kind} {name}", get, name, missing_ok=True)
    if current is None:
        created = api.call(f"creating {kind} {name}", create, body={key: manifest})
        _name_of(created, f"creating {kind} {name}", api.host)
        return True
    stored = (current.get("metadata") or {}).get("annotations") or {}
    if stored.get(ANNOTATION_CONTENT) == digest:
        return False
    manifest["metadata"]["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
    updated = api.call(f"updating {kind} {name}", update, name, body={key: manifest})
    _name_of(updated, f"updating {kind} {name}", api.host)
    return True


def publish(backend: ArgoBackend, document: ir.Document, options: RemoteOptions) -> PublishResult:
    """Create or update the WorkflowTemplate, and the CronWorkflow that runs it when there is a schedule."""
    compile_options = dict(options.compile_options)
    kind = compile_options.pop("kind", "template")
    from mlopsdsl.lowering import schedule_of

    cron = compile_options.pop("schedule", None)
    declared = schedule_of(document, "argo", cron)
    schedule = declared.cron if declared is not None else None
    if kind not in ("template", "cron"):
        raise RemoteError(
            f"publish makes a WorkflowTemplate (and a CronWorkflow); --kind {kind} does not apply"
        )
    if kind == "cron" and not schedule:
        raise RemoteError(
            "--kind cron needs a schedule: --schedule '0 3 * * *' or @ml.pipeline(schedule=...)"
        )
    template = backend.manifest(document, kind="template", **compile_options)
    name = template["metadata"]["name"]
    version = options.version or _digest(template)[:12]
    api = _Api(options)
    changed = _put(
        api,
        "workflow template",
        template,
        version,
        api.templates.get_workflow_template_endpoint,
        api.templates.create_workflow_template_endpoint,
        api.templates.update_workflow_template_endpoint,
        "template",
    )
    done = [f"workflow template {name}"]
    if schedule:
        cron_workflow = backend.manifest(document, kind="cron", schedule=schedule, **compile_options)
        cron_workflow["spec"]["workflowSpec"] = {"workflowTemplateRef": {"name": name}}
        changed = (
            _put(
                api,
                "cron workflow",
                cron_workflow,
                version,
                api.crons.get_cron_workflow_endpoint,
                api.crons.create_cron_workflow_endpoint,
                api.crons.update_cron_workflow_endpoint,
                "cronWorkflow",
            )
            or changed
        )
        done.append(f"cron workflow {cron_workflow['metadata']['name']} ({schedule})")
    where = f"in namespace {api.namespace} at {api.host}"
    if not changed:
        return PublishResult(name, version, False, f"unchanged: {' and '.join(done)} {where}; nothing to do")
    return PublishResult(name, version, True, f"published {' and '.join(done)} {where} (version {version})")


# --------------------------------------------------------------------------- reading runs back


def inspect(run_id: str, options: RemoteOptions) -> RunView:
    """The workflow's phase and its pods (the nodes of type ``Pod``), with their output parameters: JSON
    values decoded, and the ``mlopsdsl-metrics`` parameter as the task's metrics."""
    from mlopsdsl.backends import RunView, TaskView

    api = _Api(options)
    workflow = api.call(f"reading workflow {run_id}", api.workflows.get_workflow_endpoint, run_id)
    status = workflow.get("status") or {}
    tasks = []
    for node in sorted(
        _pods(workflow), key=lambda n: (str(n.get("startedAt") or ""), str(n.get("displayName")))
    ):
        outputs: dict[str, Any] = {}
        metrics: dict[str, float] = {}
        for param in (node.get("outputs") or {}).get("parameters") or []:
            value = _decoded(param.get("value"))
            if param.get("name") == METRICS:
                metrics = value if isinstance(value, dict) else {}
            else:
                outputs[str(param.get("name"))] = value
        tasks.append(
            TaskView(
                name=str(node.get("displayName") or node.get("name")),
                status=str(node.get("phase") or "Pending"),
                started=node.get("startedAt"),
                finished=node.get("finishedAt"),
                outputs=outputs,
                metrics=metrics,
            )
        )
    return RunView(
        run_id=run_id,
        status=str(status.get("phase") or "Pending"),
        started=status.get("startedAt"),
        finished=status.get("finishedAt"),
        url=f"{api.host}/workflows/{api.namespace}/{run_id}",
        tasks=tasks,
    )


def _pods(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = ((workflow.get("status") or {}).get("nodes") or {}).values()
    return [n for n in nodes if isinstance(n, dict) and n.get("type") == "Pod"]


def _decoded(text: Any) -> Any:
    """An output parameter's text: armored JSON (what the launcher writes), else the text itself."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def pod_name(workflow: dict[str, Any], node: dict[str, Any]) -> str:
    """The name of a node's pod, as Argo makes it: the node id with the ``v1`` pod name format, else (``v2``,
    the default since Argo 3.4) ``WORKFLOW-TEMPLATE-<fnv32a of the node name>``."""
    name = str(workflow["metadata"]["name"])
    annotations = workflow["metadata"].get("annotations") or {}
    if annotations.get("workflows.argoproj.io/pod-name-format") == "v1":
        return str(node["id"])
    if node.get("name") == name:
        return name
    prefix = f"{name}-{node.get('templateName')}" if node.get("templateName") else name
    prefix = prefix[: 253 - 10 - 1]
    digest = 0x811C9DC5
    for byte in str(node.get("name")).encode():
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{prefix}-{digest}"


def logs(run_id: str, task: str, options: RemoteOptions) -> list[str]:
    """The ``main`` container's log lines of every pod of ``task`` (its retries and map elements too)."""
    api = _Api(options)
    workflow = api.call(f"reading workflow {run_id}", api.workflows.get_workflow_endpoint, run_id)
    pods = [
        n
        for n in _pods(workflow)
        if n.get("displayName") == task or str(n.get("displayName")).startswith(f"{task}(")
    ]
    if not pods:
        known = sorted({str(n.get("displayName")) for n in _pods(workflow)})
        raise RemoteError(f"workflow {run_id} has no task {task!r} (tasks: {', '.join(known) or 'none yet'})")
    lines: list[str] = []
    for node in pods:
        name = pod_name(workflow, node)
        text = api.text(
            f"reading the logs of {name}",
            api.workflows.workflow_logs_endpoint,
            run_id,
            {"podName": name, "logOptions.container": "main"},
        )
        for entry in text.splitlines():
            try:
                result = json.loads(entry).get("result") or {}
            except ValueError:
                continue
            if "content" in result:
                lines.append(str(result["content"]))
    return lines
