"""Talking to a KFP API server through the official ``kfp.Client``: submit runs, publish pipelines.

The token goes to the client as ``existing_token`` and nowhere else: it is never printed, logged, or put in
an error message (nor is anything credential-shaped the server echoes). Server errors become
:class:`~mlopsdsl.errors.RemoteError` with a plain one-line message (401, 403, 404, 409, 5xx, connection
refused, no answer within the timeout, an answer that is not JSON) and the HTTP status; success is
reported only with the id of what the server created. kfp prints links to stdout and warns on every
client it makes; both are kept out of our output.

Publishing is idempotent for CI: each version's description records the sha256 of the compiled package
(``mlopsdsl-sha256:...``). When the pipeline's latest version has the same digest, nothing is uploaded.
A version name is derived from that digest unless ``--version`` gives one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

from mlopsdsl import ir
from mlopsdsl.backends import PublishResult, RemoteOptions, RunView, SubmitResult
from mlopsdsl.errors import ParameterError, RemoteError

from ._types import encode_value, encoding_of

__all__ = ["DIGEST_MARK", "content_digest", "publish", "submit"]

DIGEST_MARK = "mlopsdsl-sha256:"
_DONE = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED", "ERROR"}
_T = TypeVar("_T")


def content_digest(text: str) -> str:
    """The sha256 of a compiled package, as recorded in a published version's description."""
    return hashlib.sha256(text.encode()).hexdigest()


def _timeout() -> float:
    """Seconds one request may wait for an answer (``MLOPSDSL_REMOTE_TIMEOUT``, default 30)."""
    try:
        return float(os.environ.get("MLOPSDSL_REMOTE_TIMEOUT") or 30)
    except ValueError:
        return 30.0


def _client(options: RemoteOptions) -> Any:
    with warnings.catch_warnings():
        # kfp warns about server versions on every client; not our user's concern.
        warnings.simplefilter("ignore", FutureWarning)
        import kfp  # type: ignore[import-untyped,unused-ignore]

        class _Client(kfp.Client):  # type: ignore[misc]
            # kfp retries healthz five times, 5 s apart, on any HTTP error (a 401 included); once is enough.
            def get_kfp_healthz(self, sleep_duration: int = 5) -> Any:
                _bounded(self._healthz_api.api_client)
                return self._healthz_api.healthz_service_get_healthz()

        return _call(
            lambda: _Client(
                host=options.host.rstrip("/"),
                existing_token=options.token,
                namespace=options.namespace or "kubeflow",
                verify_ssl=options.verify_tls,
            ),
            options.host,
            options.token,
        )


def _bounded(api_client: Any) -> None:
    """Give every request of kfp's generated client a timeout and no retries.

    kfp passes ``timeout=None`` to urllib3 (wait forever) unless each call names one, and lets urllib3
    retry a GET three times; a server that never answers must end in ``_timeout()`` seconds, once.
    """
    import urllib3

    pool = api_client.rest_client.pool_manager
    if getattr(pool, "_mlopsdsl_bounded", False):
        return
    request = pool.request

    def bounded(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = urllib3.Timeout(total=_timeout())
        kwargs.setdefault("retries", False)
        return request(method, url, *args, **kwargs)

    pool.request = bounded
    pool._mlopsdsl_bounded = True


def _call(fn: Callable[[], _T], host: str, token: str | None = None) -> _T:
    """Run a client call with kfp's printed links silenced and its errors made plain (and the token, and
    anything credential-shaped, left out of them)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return fn()
    except RemoteError:
        raise
    except Exception as exc:
        raise _plain(exc, host, token) from None


def _plain(exc: Exception, host: str, token: str | None = None) -> RemoteError:
    secrets = (token,)
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status > 0:
        detail = _server_message(getattr(exc, "body", None)) or getattr(exc, "reason", "") or ""
        meaning = {
            401: "unauthorized: the token is missing, wrong or expired",
            403: "forbidden: the token may not do this",
            404: "not found",
            409: "conflict: it already exists",
        }.get(status, "the server refused the request")
        tail = f" ({detail})" if detail else ""
        return RemoteError(f"KFP server at {host}: HTTP {status} {meaning}{tail}", status, secrets)
    text = f"{type(exc).__name__}: {exc}"
    if "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
        return RemoteError(f"the KFP server at {host} did not answer within {_timeout():g} s", None, secrets)
    if "refused" in text.lower() or "Max retries" in text or "NewConnectionError" in text:
        return RemoteError(f"cannot reach the KFP server at {host}: connection refused", None, secrets)
    if isinstance(exc, UnicodeDecodeError):
        return RemoteError(f"KFP server at {host}: its answer is not UTF-8 text, so not an API answer")
    if isinstance(exc, ValueError):
        return RemoteError(
            f"KFP server at {host}: its answer is not the JSON expected ({exc})", None, secrets
        )
    if isinstance(exc, OSError | TimeoutError):
        return RemoteError(f"cannot reach the KFP server at {host}: {type(exc).__name__}", None, secrets)
    return RemoteError(f"KFP server at {host}: {type(exc).__name__}: {exc}", None, secrets)


def _created(value: Any, field: str, what: str, host: str) -> str:
    """The id the server gave what it created; a 200 without one (an HTML page, an empty or cut-off
    body from a proxy) is not a success."""
    found = getattr(value, field, None)
    if not isinstance(found, str) or not found.strip():
        raise RemoteError(
            f"KFP server at {host}: answered {what} without the {field} of what it created (an empty, HTML "
            "or cut-off answer: is --host the KFP API endpoint?)"
        )
    return found


def _server_message(body: Any) -> str:
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if not isinstance(body, str) or not body:
        return ""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("error") or "")[:200]
    return ""


@contextlib.contextmanager
def _package(text: str, name: str) -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="mlopsdsl-kfp-")
    path = os.path.join(folder, f"{name}.yaml")
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)
            os.rmdir(folder)


def _arguments(document: ir.Document, values: dict[str, Any]) -> dict[str, Any]:
    """Parameter values as the compiled pipeline declares them (``Optional`` values as JSON text).

    KFP keeps numbers as doubles, so an int it would round is refused before anything is sent.
    """
    from mlopsdsl.lowering import ARGUMENT_BYTES, argument_problem, desugar
    from mlopsdsl.runtime._values import LossyValue, check_float64

    # As compiled: an artifact parameter is its URI (``str``, or ``str | None`` when it is optional).
    params = {p.name: p for p in desugar(document).pipeline.params}
    encoded: dict[str, Any] = {}
    for name, value in values.items():
        encoded[name] = encode_value(value, encoding_of(params[name].type))
        problem = argument_problem(name, encoded[name], ARGUMENT_BYTES, "kfp")
        if problem is not None:
            raise ParameterError(problem)
        try:
            check_float64(encoded[name], f"parameter {name!r}")
        except LossyValue as exc:
            raise ParameterError(str(exc)) from None
    return encoded


# --------------------------------------------------------------------------- submit


def submit(document: ir.Document, text: str, options: RemoteOptions, poll_interval: float) -> SubmitResult:
    """Create a run of the compiled package ``text``; follow it when ``options.wait``."""
    from mlopsdsl.naming import k8s_name

    arguments = _arguments(document, options.params)  # refused before the server is contacted
    client = _client(options)
    name = k8s_name(document.root)
    with _package(text, name) as path:
        result = _call(
            lambda: client.create_run_from_pipeline_package(
                path,
                arguments=arguments,
                run_name=options.run_name or name,
                experiment_name=options.experiment,
                namespace=options.namespace,
                service_account=_service_account(document),
            ),
            options.host,
            options.token,
        )
    run_id = _created(result, "run_id", "the run's creation", options.host)
    url = f"{options.host.rstrip('/')}/#/runs/details/{run_id}"
    state = str(getattr(result.run_info, "state", None) or "PENDING")
    if not options.wait:
        return SubmitResult(run_id=run_id, url=url, status=state.capitalize())
    state = _wait(client, run_id, options, poll_interval)
    return SubmitResult(run_id=run_id, url=url, status=state.capitalize(), succeeded=state == "SUCCEEDED")


def _service_account(document: ir.Document) -> str | None:
    """The run's service account: the pipeline's ``pod``'s (KFP has none per executor)."""
    pod = document.pipeline.pod
    return pod.service_account if pod is not None else None


def _wait(client: Any, run_id: str, options: RemoteOptions, poll_interval: float) -> str:
    started = time.monotonic()
    delay = min(0.2, poll_interval)
    while True:
        run = _call(lambda: client.get_run(run_id), options.host, options.token)
        state = str(getattr(run, "state", "") or "").upper()
        if state in _DONE:
            return state
        if options.timeout is not None and time.monotonic() - started + delay > options.timeout:
            raise RemoteError(
                f"run {run_id} is still {state or 'pending'} after {options.timeout:g} s; gave up waiting"
            )
        time.sleep(delay)
        delay = min(delay * 2, poll_interval)


# --------------------------------------------------------------------------- publish


def publish(
    document: ir.Document, text: str, options: RemoteOptions, schedule: ir.Schedule | None = None
) -> PublishResult:
    """Create the pipeline, or add a version when the compiled content changed; with ``schedule``, create,
    replace, enable or disable its recurring run (``_schedule.py``)."""
    from mlopsdsl.naming import k8s_name

    client = _client(options)
    name = k8s_name(document.root)
    digest = content_digest(text)
    mark = f"{DIGEST_MARK}{digest} ir-sha256:{document.digest}"
    pipeline_id = _call(lambda: client.get_pipeline_id(name), options.host, options.token)
    with _package(text, name) as path:
        if pipeline_id is None:
            description = document.pipeline.description or f"mlopsdsl pipeline {document.root}"
            created = _call(
                lambda: client.upload_pipeline(
                    path,
                    pipeline_name=name,
                    description=f"{description}\n{mark}",
                    namespace=options.namespace,
                ),
                options.host,
                options.token,
            )
            pipeline_id = _created(created, "pipeline_id", "the pipeline's upload", options.host)
            version, changed = None, True
            message = f"created pipeline {name} ({pipeline_id})"
            first = _versions(client, pipeline_id, options.host, options.token)[0]
            version_id = str(first.pipeline_version_id)
        else:
            pipeline_id = str(pipeline_id)
            versions = _versions(client, pipeline_id, options.host, options.token)
            latest = versions[0] if versions else None
            if latest is not None and digest in (latest.description or ""):
                version, changed = str(latest.display_name), False
                version_id = str(latest.pipeline_version_id)
                message = (
                    f"unchanged: pipeline {name} version {latest.display_name} already has this content; "
                    "nothing published"
                )
            else:
                version = options.version or _derived_version(digest, {str(v.display_name) for v in versions})
                uploaded = _call(
                    lambda: client.upload_pipeline_version(
                        path, pipeline_version_name=version, pipeline_id=pipeline_id, description=mark
                    ),
                    options.host,
                    options.token,
                )
                version_id = _created(uploaded, "pipeline_version_id", "the version's upload", options.host)
                changed = True
                message = f"published pipeline {name} version {version} ({version_id})"
    if schedule is not None:
        done = _recurring(client, document, schedule, name, pipeline_id, version_id, options)
        if done is not None:
            changed = True
            message = f"{message.removeprefix('unchanged: ').split(';')[0]}; {done}"
        else:
            message += f"; recurring run {name} unchanged"
    return PublishResult(name=name, version=version, changed=changed, message=message)


def _recurring(
    client: Any,
    document: ir.Document,
    schedule: ir.Schedule,
    name: str,
    pipeline_id: str,
    version_id: str,
    options: RemoteOptions,
) -> str | None:
    """Make the recurring run ``name`` hold ``schedule`` for this version; what was done, or ``None``."""
    from ._schedule import trigger_of

    trigger = trigger_of(schedule.cron)
    account = _service_account(document)
    experiment = _call(
        lambda: client.create_experiment(options.experiment or "Default", namespace=options.namespace),
        options.host,
        options.token,
    )
    held = _held_recurring_run(client, name, str(experiment.experiment_id), options.host, options.token)
    if held is not None:
        reference = getattr(held, "pipeline_version_reference", None)
        same = (
            trigger.matches(held.trigger)
            and int(held.max_concurrency or 0) == schedule.max_concurrency
            and bool(held.no_catchup) == (not schedule.catch_up)
            and getattr(reference, "pipeline_version_id", None) == version_id
            and (held.service_account or None) == account
        )
        enabled = str(held.mode or "").upper() == "ENABLE"
        if same and enabled == schedule.enabled:
            return None
        run_id = str(held.recurring_run_id)
        if same:
            switch = client.enable_recurring_run if schedule.enabled else client.disable_recurring_run
            _call(lambda: switch(run_id), options.host, options.token)
            return f"{'enabled' if schedule.enabled else 'disabled'} recurring run {name}"
        _call(lambda: client.delete_recurring_run(run_id), options.host, options.token)
    _call(
        lambda: client.create_recurring_run(
            experiment_id=str(experiment.experiment_id),
            job_name=name,
            description=f"mlopsdsl schedule of {document.root} ({schedule.cron})",
            max_concurrency=schedule.max_concurrency,
            no_catchup=not schedule.catch_up,
            pipeline_id=pipeline_id,
            version_id=version_id,
            enabled=schedule.enabled,
            service_account=account,
            **trigger.arguments(),
        ),
        options.host,
        options.token,
    )
    verb = "replaced" if held is not None else "created"
    paused = "" if schedule.enabled else ", disabled"
    return f"{verb} recurring run {name} ({schedule.cron}{paused})"


def _held_recurring_run(client: Any, name: str, experiment_id: str, host: str, token: str | None) -> Any:
    """The recurring run named ``name`` in the experiment, or ``None``."""
    predicate = {"predicates": [{"key": "display_name", "operation": "EQUALS", "string_value": name}]}
    page = _call(
        lambda: client.list_recurring_runs(
            experiment_id=experiment_id, filter=json.dumps(predicate), page_size=100
        ),
        host,
        token,
    )
    found = [r for r in (page.recurring_runs or []) if r.display_name == name]
    return found[0] if found else None


def _versions(client: Any, pipeline_id: str, host: str, token: str | None = None) -> list[Any]:
    """The pipeline's versions, newest first."""
    found: list[Any] = []
    page_token = ""
    while True:
        page = _call(
            partial(client.list_pipeline_versions, pipeline_id, page_token=page_token, page_size=100),
            host,
            token,
        )
        found.extend(page.pipeline_versions or [])
        page_token = page.next_page_token or ""
        if not page_token:
            break
    found.sort(key=lambda v: str(getattr(v, "created_at", "") or ""), reverse=True)
    return found


def _derived_version(digest: str, taken: set[str]) -> str:
    base = f"sha256-{digest[:12]}"
    candidate, number = base, 1
    while candidate in taken:  # the same content published before, then replaced: publish it again
        number += 1
        candidate = f"{base}-{number}"
    return candidate


# --------------------------------------------------------------------------- reading runs back


def inspect(run_id: str, options: RemoteOptions) -> RunView:
    """The run's state and its task tree (``run_details.task_details``), through kfp's client. KFP keeps
    outputs and metrics in ML Metadata, which its REST API does not serve: the tasks carry states only."""
    from mlopsdsl.backends import TaskView

    client = _client(options)
    run = _call(lambda: client.get_run(run_id), options.host)
    details = getattr(getattr(run, "run_details", None), "task_details", None) or []
    tasks = [
        TaskView(
            name=str(getattr(t, "display_name", None) or getattr(t, "task_id", "?")),
            status=str(getattr(t, "state", None) or "PENDING").capitalize(),
            started=_time(getattr(t, "start_time", None)),
            finished=_time(getattr(t, "end_time", None)),
        )
        for t in details
    ]
    return RunView(
        run_id=run_id,
        status=str(getattr(run, "state", None) or "PENDING").capitalize(),
        started=_time(getattr(run, "created_at", None)),
        finished=_time(getattr(run, "finished_at", None)),
        url=f"{options.host.rstrip('/')}/#/runs/details/{run_id}",
        tasks=sorted(tasks, key=lambda t: (t.started or "", t.name)),
    )


def _time(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def logs(run_id: str, task: str, options: RemoteOptions) -> list[str]:
    """KFP's API serves no task logs: say where they are instead."""
    raise RemoteError(
        f"KFP's API does not serve the logs of task {task!r}; they are in the pod's logs (kubectl logs -n "
        f"{options.namespace or 'kubeflow'} -l pipeline/runid={run_id}) and, once the run ends, in the "
        "pipeline root's artifact store"
    )
