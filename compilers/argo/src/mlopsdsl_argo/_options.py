"""Compile options of the Argo backend, checked once, and the explicit S3 artifact repository.

``ArgoBackend.compile(document, **options)`` takes these as keyword arguments (``ml.compile(p,
backend="argo", kind="cron", schedule="0 3 * * *")``); an unknown option or a bad value is a
:class:`~mlopsdsl.errors.CompileError`, never silently ignored.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any, Literal

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass
from mlopsdsl.errors import CompileError
from mlopsdsl.lowering import runtime_problem

__all__ = ["KINDS", "CompileOptions", "S3Repository", "SecretKey", "default_image"]

BACKEND = "argo"
KINDS = ("workflow", "template", "cron")


def default_image() -> str:
    """``python:3.X-slim`` for the Python that compiles: by-value code only loads on the same minor."""
    return f"python:{sys.version_info[0]}.{sys.version_info[1]}-slim"


@dataclass(frozen=True)
class SecretKey:
    """A key of a Kubernetes secret (``name``, ``key``)."""

    name: str
    key: str


@dataclass(frozen=True)
class S3Repository:
    """An S3 (or S3-compatible) bucket for step outputs that are stored, not passed by value.

    Credentials are never written into the manifest: they are references to Kubernetes secrets that the
    Argo executor reads in the pod. Leave the repository out to use the cluster's default one.

    Args:
        bucket: The bucket.
        endpoint: ``host[:port]`` of the S3 API (``s3.amazonaws.com``, ``minio:9000``).
        access_key: The secret key holding the access key id.
        secret_key: The secret key holding the secret access key.
        region: The bucket's region, when the endpoint needs one.
        insecure: Talk plain HTTP to the endpoint.
        key_prefix: Folder inside the bucket; each output goes under ``PREFIX/WORKFLOW/POD/``.
    """

    bucket: str
    endpoint: str
    access_key: SecretKey
    secret_key: SecretKey
    region: str | None = None
    insecure: bool = False
    key_prefix: str = "mlopsdsl"


@dataclass(frozen=True)
class CompileOptions:
    """Every option of one compilation, with its default."""

    kind: Literal["workflow", "template", "cron"] = "workflow"
    schedule: str | None = None
    service_account: str | None = None
    artifact_repository: S3Repository | None = None
    artifact_bucket: str | None = None
    """The bucket of the cluster's default (S3-compatible) artifact repository, when ``artifact_repository``
    is not given: only to tell steps where their stored inputs live (``ml.Artifact.uri``,
    ``s3://BUCKET/KEY``); a pod cannot learn it from Argo."""
    image: str | None = None
    """The image of steps that set none; ``python:<compiling major.minor>-slim`` by default."""
    code: Literal["value", "import"] = "value"
    runtime: Literal["bundle", "image"] = "bundle"
    """``bundle``: the step runtime travels in the document (a stock ``python`` image works); ``image``:
    every image has mlopsdsl installed, and nothing is shipped."""
    non_root: bool = True
    functions: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    """Step functions by step name, for steps whose function cannot be found by module and name."""
    cache: bool = True
    """``False``: a run that reuses nothing (``submit --no-cache``): the pods' cache only records."""
    cache_root: str | None = None
    """Where the step runtime in each pod keeps its cache: an absolute folder in the pod (a volume mounted
    in every step) or an fsspec URL. Argo has no cache of its own that mlopsdsl uses, so without it every
    step runs every time."""
    pushgateway: str | None = None
    tracking_uri: str | None = None
    """An MLflow tracking server every step's runtime records its run in (``MLFLOW_TRACKING_URI`` in each
    container; the image needs ``mlflow``)."""
    """A Prometheus Pushgateway URL every step's runtime pushes its metrics to (``MLOPSDSL_PUSHGATEWAY``
    in each container)."""

    @classmethod
    def parse(cls, options: Mapping[str, Any], where: ir.SourceLocation | None) -> CompileOptions:
        """Check ``options`` as given to ``compile``; ``where`` (the root pipeline's definition) locates a
        bad one."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise CompileError(
                f"unknown option {', '.join(unknown)}; options are {', '.join(sorted(known))}",
                BACKEND,
                location=where,
            )
        parsed = cls(**options)
        from dataclasses import asdict

        from mlopsdsl_argo._templates import refuse_braces

        for name in ("schedule", "service_account", "artifact_bucket", "image", "cache_root"):
            value = getattr(parsed, name)
            if value is not None and not isinstance(value, str):
                # -O image=0.1 reads JSON: a number is not a name (found by fuzzing)
                raise CompileError(
                    f"{name} must be a string, not {value!r}; quote it in -O as {name}='\"...\"'",
                    BACKEND,
                    location=where,
                )
            refuse_braces(value, f"option {name}", where)
        if isinstance(parsed.artifact_repository, S3Repository):
            refuse_braces(asdict(parsed.artifact_repository), "option artifact_repository", where)
        if parsed.kind not in KINDS:
            raise CompileError(
                f"kind must be one of {', '.join(KINDS)}, not {parsed.kind!r}", BACKEND, location=where
            )
        if parsed.code not in ("value", "import"):
            raise CompileError(
                f"code must be 'value' or 'import', not {parsed.code!r}", BACKEND, location=where
            )
        problem = runtime_problem(parsed.runtime)
        if problem is not None:
            raise CompileError(problem, BACKEND, location=where)
        if not isinstance(parsed.cache, bool):
            raise CompileError(f"cache must be True or False, not {parsed.cache!r}", BACKEND, location=where)
        if parsed.cache_root is not None:
            from mlopsdsl.runtime._cache import root_problem

            problem = root_problem(parsed.cache_root)
            if problem is not None:
                raise CompileError(problem, BACKEND, location=where)
        from mlopsdsl.runtime.push import url_problem

        for option in ("pushgateway", "tracking_uri"):
            url = getattr(parsed, option)
            problem = url_problem(url, option) if url is not None else None
            if problem is not None:
                raise CompileError(problem, BACKEND, location=where)
        repo = parsed.artifact_repository
        bucket = parsed.artifact_bucket
        if bucket is not None and (not isinstance(bucket, str) or not bucket or "/" in bucket):
            raise CompileError(
                f"artifact_bucket must be a bucket name, not {bucket!r}", BACKEND, location=where
            )
        if bucket is not None and repo is not None:
            raise CompileError(
                "artifact_bucket names the bucket of the cluster's default repository; with "
                "artifact_repository the bucket is artifact_repository.bucket",
                BACKEND,
                location=where,
            )
        if repo is not None and not isinstance(repo, S3Repository):
            raise CompileError(
                f"artifact_repository must be an mlopsdsl_argo.S3Repository, not {type(repo).__name__}",
                BACKEND,
                location=where,
            )
        return parsed
