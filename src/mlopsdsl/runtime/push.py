"""Step metrics for Prometheus, pushed to a Pushgateway in the text exposition format (standard library only).

A step is a batch job, which Prometheus cannot scrape while it lives, so its numbers go to a Pushgateway
(``MLOPSDSL_PUSHGATEWAY`` or ``mlopsdsl run --pushgateway URL``), one group per task:
``/metrics/job/mlopsdsl/pipeline/P/run/R/task/T`` (values base64-encoded, since task names hold ``/``).
A push replaces the group, so the group always holds the task's latest state: in a pod the runtime pushes
after each attempt; the local runner pushes once per task when it ends (a cache hit too, which starts no
process), and once per run.

The names are the contract the Grafana dashboard (``dashboards/mlopsdsl.json``) is built on:

==========================================  =========  ==================================================
``mlopsdsl_step_duration_seconds``          histogram  the task's run time (a cache hit: 0)
``mlopsdsl_step_attempts_total``            counter    attempts made
``mlopsdsl_step_retries_total``             counter    attempts after the first
``mlopsdsl_step_failures_total{reason}``    counter    failed attempts by reason (the runtime's phase:
                                                       ``call``, ``inputs``..., or ``timeout``, ``crash``)
``mlopsdsl_step_cache_hits_total``          counter    1 when the task reused a cached result
``mlopsdsl_step_bytes_read_total``          counter    bytes of stored inputs read
``mlopsdsl_step_bytes_written_total``       counter    bytes of stored outputs written
``mlopsdsl_step_status{status}``            gauge      1 for the task's status (``succeeded``...)
``mlopsdsl_metric{name}``                   gauge      each ``ml.log_metric`` metric's last value
``mlopsdsl_pipeline_runs_total{status}``    counter    1 per finished run, by status (local runner)
``mlopsdsl_pipeline_duration_seconds``      gauge      the run's duration (local runner)
==========================================  =========  ==================================================

Every sample carries the group's labels ``job``, ``pipeline``, ``run`` and ``task`` (Prometheus keeps
them with ``honor_labels: true`` on the Pushgateway's scrape job, as the Pushgateway's docs ask).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BUCKETS", "ENV", "Family", "exposition", "push", "run_families", "step_families"]

ENV = "MLOPSDSL_PUSHGATEWAY"
JOB = "mlopsdsl"
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)
"""Seconds: steps last from a fraction of a second to hours."""


class Family:
    """One metric family: its name, type, help text, and samples (labels, value)."""

    __slots__ = ("help", "kind", "name", "samples")

    def __init__(self, name: str, kind: str, help: str) -> None:
        self.name = name
        self.kind = kind
        self.help = help
        self.samples: list[tuple[dict[str, str], float]] = []

    def add(self, value: float, **labels: str) -> Family:
        self.samples.append((labels, float(value)))
        return self


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if value != int(value) or abs(value) >= 1e15 else str(int(value))


def exposition(families: list[Family]) -> str:
    """The families in Prometheus' text exposition format (version 0.0.4)."""
    lines: list[str] = []
    for family in families:
        if not family.samples:
            continue
        lines.append(f"# HELP {family.name} {family.help}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        if family.kind == "histogram":
            lines.extend(_histogram(family))
            continue
        for labels, value in family.samples:
            lines.append(f"{family.name}{_labels(labels)} {_number(value)}")
    return "\n".join(lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}"


def _histogram(family: Family) -> list[str]:
    """Each sample of a histogram family is one observation."""
    values = [value for _, value in family.samples]
    lines = [
        f'{family.name}_bucket{{le="{_number(bound)}"}} {sum(1 for v in values if v <= bound)}'
        for bound in BUCKETS
    ]
    lines.append(f'{family.name}_bucket{{le="+Inf"}} {len(values)}')
    lines.append(f"{family.name}_sum {_number(sum(values))}")
    lines.append(f"{family.name}_count {len(values)}")
    return lines


def step_families(
    *,
    seconds: float,
    attempts: int,
    failures: dict[str, int],
    cache_hit: bool,
    bytes_read: int,
    bytes_written: int,
    status: str,
    metrics: dict[str, float],
) -> list[Family]:
    """The families of one task: the standard ones and the user's metrics (one definition for the runtime
    and the local runner, so both push the same names)."""
    failed = Family("mlopsdsl_step_failures_total", "counter", "Failed attempts of the step, by reason.")
    for reason, count in sorted(failures.items()):
        failed.add(count, reason=reason)
    user = Family(
        "mlopsdsl_metric", "gauge", "The last value of each metric the step logged (ml.log_metric)."
    )
    for name, value in metrics.items():
        user.add(value, name=name)
    return [
        Family("mlopsdsl_step_duration_seconds", "histogram", "How long the step ran.").add(seconds),
        Family("mlopsdsl_step_attempts_total", "counter", "Attempts made to run the step.").add(attempts),
        Family("mlopsdsl_step_retries_total", "counter", "Attempts after the first.").add(
            max(attempts - 1, 0)
        ),
        failed,
        Family("mlopsdsl_step_cache_hits_total", "counter", "1 when the step reused a cached result.").add(
            1 if cache_hit else 0
        ),
        Family("mlopsdsl_step_bytes_read_total", "counter", "Bytes of stored inputs the step read.").add(
            bytes_read
        ),
        Family("mlopsdsl_step_bytes_written_total", "counter", "Bytes of stored outputs the step wrote.").add(
            bytes_written
        ),
        Family("mlopsdsl_step_status", "gauge", "1 for the step's status.").add(1, status=status),
        user,
    ]


def run_families(status: str, seconds: float) -> list[Family]:
    """The families of a whole run (pushed by the local runner, without a ``task`` label)."""
    return [
        Family("mlopsdsl_pipeline_runs_total", "counter", "Finished pipeline runs, by status.").add(
            1, status=status
        ),
        Family("mlopsdsl_pipeline_duration_seconds", "gauge", "How long the pipeline run took.").add(seconds),
    ]


def group_path(pipeline: str, run: str, task: str | None = None) -> str:
    """The Pushgateway path of a group; every value base64url-encoded (``label@base64``), which keeps ``/``
    and empty values intact."""
    from binascii import b2a_base64  # base64's own C core, without base64's imports

    parts = [f"/metrics/job/{JOB}"]
    labels = [("pipeline", pipeline), ("run", run)] + ([("task", task)] if task is not None else [])
    for label, value in labels:
        encoded = b2a_base64(value.encode(), newline=False).decode().replace("+", "-").replace("/", "_")
        encoded = encoded or "="
        parts.append(f"/{label}@base64/{encoded}")
    return "".join(parts)


def push(gateway: str, path: str, families: list[Family], timeout: float = 5.0) -> None:
    """PUT the families to the Pushgateway group at ``path`` (replacing what the group held).

    Plain ``http://`` goes over a socket with a minimal HTTP/1.1 request: ``urllib.request`` costs a step
    ~70 ms of imports (``ssl``, ``email``), far more than the push. ``https://`` uses ``urllib.request``.

    Raises:
        OSError: The Pushgateway could not be reached or refused the push; callers report it and go on:
            metrics never fail a step.
    """
    body = exposition(families).encode()
    url = gateway.rstrip("/") + path
    content_type = "text/plain; version=0.0.4; charset=utf-8"
    if not url.startswith("http://"):
        from urllib.request import Request, urlopen

        request = Request(url, data=body, method="PUT", headers={"Content-Type": content_type})
        with urlopen(request, timeout=timeout) as response:
            response.read()
        return
    import socket

    where, _, rest = url[len("http://") :].partition("/")
    host, _, port = where.rpartition(":") if ":" in where.lstrip("[").split("]")[-1] else (where, "", "80")
    head = (
        f"PUT /{rest} HTTP/1.1\r\nHost: {where}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode() + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status_line = reply.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].startswith("2"):
        detail = reply.partition(b"\r\n\r\n")[2][:300].decode(errors="replace").strip()
        raise OSError(f"the Pushgateway answered {status_line!r}: {detail}")


def url_problem(url: object, option: str = "pushgateway") -> str | None:
    """What is wrong with a server's URL given as a compile or run option (``pushgateway``,
    ``tracking_uri``), or ``None``."""
    import re

    if not isinstance(url, str) or not re.match(r"^https?://[^\s/\"'{}$]+(/[^\s\"'{}$]*)?$", url):
        return f"{option}={url!r}: give the server's http:// or https:// URL"
    return None


def gateway() -> str | None:
    """The configured Pushgateway URL, or ``None`` (an empty value means none: the local runner sets it so,
    because it pushes for its steps itself)."""
    return os.environ.get(ENV) or None


def push_attempt(record: dict[str, Any], current: Any, seconds: float, bytes_read: int) -> None:
    """Push one attempt's numbers from the runtime (in a pod). Never raises: a warning on stderr instead."""
    url = gateway()
    if url is None:
        return
    import sys

    ok = bool(record.get("ok"))
    error = record.get("error") or {}
    attempt = current.attempt if isinstance(current.attempt, int) else 1
    families = step_families(
        seconds=seconds,
        attempts=attempt,
        failures={} if ok else {str(error.get("phase", "unknown")): 1},
        cache_hit=bool((record.get("cache") or {}).get("hit")),
        bytes_read=bytes_read,
        bytes_written=sum(int(o.get("size") or 0) for o in (record.get("outputs") or {}).values()),
        status="succeeded" if ok else "failed",
        metrics={p["name"]: p["value"] for p in record.get("metrics") or []},
    )
    task = current.task or current.step or str(record.get("step"))
    try:
        push(url, group_path(current.pipeline or "", current.run_id or "", task), families)
    except Exception as exc:
        print(f"mlopsdsl: could not push metrics to {url}: {type(exc).__name__}: {exc}", file=sys.stderr)
