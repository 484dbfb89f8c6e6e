"""Publishing a DAG file into a DAGs folder, and triggering runs through Airflow's REST API.

Imported only by ``publish`` and ``submit``. Airflow has no upload endpoint: a DAG is a file in the folder
its DAG processor reads. ``publish`` writes ``DAG_ID.py`` into that folder, given as a path or any fsspec
URL (``s3://bucket/dags/``, which fsspec's s3fs reads), and only when the content differs from what is
there (temporary name, then rename, for a local folder), so an unchanged pipeline never makes Airflow
parse it again. ``submit`` speaks Airflow 3's REST API (``/api/v2``) with the standard library: it
unpauses the DAG (new DAGs start paused), creates a DAG run with the parameters as its ``conf``, and with
``wait`` polls the run until it ends. Authentication is a bearer token (``--token``), or a user name and
password (``AIRFLOW_USERNAME``/``AIRFLOW_PASSWORD``) exchanged for one at ``/auth/token``, which both of
Airflow 3's auth managers (simple and FAB) serve.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from mlopsdsl.backends import PublishResult, RemoteOptions, SubmitResult
from mlopsdsl.errors import RemoteError

if TYPE_CHECKING:
    from mlopsdsl import ir
    from mlopsdsl_airflow._backend import AirflowBackend

__all__ = ["publish", "submit"]

DONE = {"success": True, "failed": False}
REQUEST_TIMEOUT = 120
"""Seconds one request may take: a busy api-server (a small deployment, a loaded machine) answers slowly."""


def _dag_id(document: ir.Document, options: RemoteOptions) -> str:
    dag_id = options.compile_options.get("dag_id") or document.pipeline.name
    return str(dag_id)


def publish(backend: AirflowBackend, document: ir.Document, options: RemoteOptions) -> PublishResult:
    """Write the DAG file into the folder ``options.host`` when its content changed.

    Raises:
        RemoteError: The folder cannot be read or written.
    """
    text = backend.compile(document, **options.compile_options)
    dag_id = _dag_id(document, options)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    folder = options.host.rstrip("/")
    target = f"{folder}/{dag_id}.py"
    try:
        if "://" in folder and not folder.startswith("file://"):
            changed = _write_fsspec(target, text)
        else:
            changed = _write_local(target.removeprefix("file://"), text)
    except OSError as exc:
        raise RemoteError(f"cannot write the DAG file {target}: {exc}") from exc
    message = f"wrote {target} (content {digest})" if changed else f"{target} is unchanged (content {digest})"
    return PublishResult(name=dag_id, version=options.version or digest, changed=changed, message=message)


def _write_local(path: str, text: str) -> bool:
    data = text.encode()
    try:
        with open(path, "rb") as handle:
            if handle.read() == data:
                return False
    except FileNotFoundError:
        pass
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no such folder: {folder}")
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return True


def _write_fsspec(url: str, text: str) -> bool:
    try:
        import fsspec  # type: ignore[import-untyped]
    except ImportError as exc:
        raise OSError("publishing to a URL needs fsspec (pip install 'mlopsdsl[s3]')") from exc
    fs, path = fsspec.core.url_to_fs(url)
    data = text.encode()
    if fs.exists(path) and fs.cat_file(path) == data:
        return False
    fs.pipe_file(path, data)  # object stores put a whole object or nothing
    return True


class _Api:
    """Airflow's REST API at ``options.host``, with errors turned into :class:`RemoteError`."""

    def __init__(self, options: RemoteOptions) -> None:
        self.host = options.host.rstrip("/")
        self.verify = options.verify_tls
        self.token = options.token or self._login()

    def _context(self) -> Any:
        if self.verify:
            return None
        import ssl

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    def _login(self) -> str | None:
        user, password = os.environ.get("AIRFLOW_USERNAME"), os.environ.get("AIRFLOW_PASSWORD")
        if not user or not password:
            return None
        found = self.request("POST", "/auth/token", {"username": user, "password": password}, auth=False)
        return str(found["access_token"])

    def request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.host + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if auth and self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(
                request, timeout=REQUEST_TIMEOUT, context=self._context()
            ) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            hint = {
                401: " (give a valid token with --token, or AIRFLOW_USERNAME and AIRFLOW_PASSWORD)",
                403: " (the token is not valid, or the user may not do this)",
                404: " (is the DAG published, and parsed by Airflow's DAG processor?)",
            }.get(exc.code, "")
            raise RemoteError(
                f"Airflow refused {method} {path}: HTTP {exc.code}{hint}: {detail}", exc.code
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RemoteError(f"cannot reach Airflow at {self.host}: {reason}") from None
        return json.loads(text) if text else None


def submit(backend: AirflowBackend, document: ir.Document, options: RemoteOptions) -> SubmitResult:
    """Trigger a run of the DAG; with ``options.wait``, follow it to its end.

    Raises:
        RemoteError: The server refused the request or could not be reached, or the wait timed out.
    """
    api = _Api(options)
    dag_id = _dag_id(document, options)
    quoted = urllib.parse.quote(dag_id, safe="")
    api.request("PATCH", f"/api/v2/dags/{quoted}", {"is_paused": False})
    body: dict[str, Any] = {"logical_date": None, "conf": dict(options.params)}
    if options.run_name:
        body["dag_run_id"] = options.run_name
    run = api.request("POST", f"/api/v2/dags/{quoted}/dagRuns", body)
    run_id = str(run["dag_run_id"])
    url = f"{api.host}/dags/{quoted}/runs/{urllib.parse.quote(run_id, safe='')}"
    state = str(run.get("state"))
    if not options.wait:
        return SubmitResult(run_id=run_id, url=url, status=state)
    deadline = None if options.timeout is None else time.monotonic() + options.timeout
    path = f"/api/v2/dags/{quoted}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
    while state not in DONE:
        if deadline is not None and time.monotonic() > deadline:
            raise RemoteError(
                f"DAG run {run_id} did not end within {options.timeout} s (last state: {state})"
            )
        time.sleep(backend.poll_interval)
        state = str(api.request("GET", path)["state"])
    return SubmitResult(run_id=run_id, url=url, status=state, succeeded=DONE[state])
