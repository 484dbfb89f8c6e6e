"""Reading the call spec: the JSON document that tells the runtime what to run and where data lives.

Whoever writes a call spec (the local runner, a compiler) is a program, so a malformed spec is a bug in
that program: it raises :class:`SpecError` naming the offending key, and the step is not retried. The
contract itself is documented in ``docs/runtime.md``; this module is its executable form.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

KINDS = ("json", "object", "artifact")
INPUT_KINDS = (*KINDS, "collected")
ARTIFACT_TYPES = ("Artifact", "Dataset", "Model", "Markdown", "HTML", "ClassificationMetrics")


class SpecError(Exception):
    """The call spec is malformed. Never retried: running it again cannot help."""


class CodeSpec:
    """Where the step's function comes from: a pickled payload (``value``) or an import (``import``)."""

    __slots__ = ("file", "mode", "module", "payload", "python", "qualname")

    def __init__(self, data: dict[str, Any]) -> None:
        self.mode: str = _choice(data, "mode", ("value", "import"), "code")
        self.module: str = ""
        self.qualname: str = ""
        self.file: str | None = None
        self.payload: str | None = None
        self.python: str = ""
        if self.mode == "import":
            self.module = _str(data, "module", "code")
            self.qualname = _str(data, "qualname", "code")
        else:
            self.python = _str(data, "python", "code")
            self.file = _opt_str(data, "file", "code")
            self.payload = _opt_str(data, "payload", "code")
            if (self.file is None) == (self.payload is None):
                raise SpecError("code: a by-value step needs exactly one of 'file' or 'payload'")


class InputSpec:
    """One argument of the step function and where its value comes from."""

    __slots__ = (
        "arg",
        "artifact_type",
        "env",
        "file",
        "float64",
        "format",
        "has_value",
        "is_dir",
        "item_kind",
        "items",
        "kind",
        "meta",
        "metadata",
        "name",
        "none",
        "raw",
        "records",
        "select",
        "sha256",
        "uri",
        "value",
        "verified",
    )

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.name: str = _str(data, "name", where)
        where = f"inputs.{self.name}"
        self.kind: str = _choice(data, "kind", INPUT_KINDS, where)
        self.items: list[InputSpec] | None = None
        self.records: InputSpec | None = None
        self.item_kind = "json"
        if self.kind == "collected":
            self._collected(data, where)
            # What follows describes the list itself: only its selection (a field of every element) applies.
            data = {"name": self.name, "kind": "json", "value": None, "select": data.get("select", [])}
        kind = "json" if self.kind == "collected" else self.kind  # what the fields below describe
        self.has_value = "value" in data
        self.value: Any = data.get("value")
        self.file = _opt_str(data, "file", where)
        self.env = _opt_str(data, "env", where)
        self.arg = _opt_str(data, "arg", where)
        self.uri = _opt_str(data, "uri", where)
        sources = [s for s in ("value", "file", "env", "arg") if s in data]
        if kind != "json" and ((self.file is None and self.uri is None) or len(sources) > 1):
            raise SpecError(f"{where}: an {kind} input is read from a file; give 'file' (or 'uri')")
        if kind == "json" and len(sources) != 1:
            raise SpecError(f"{where}: give exactly one of value, file, env or arg (got {sources or 'none'})")
        self.raw = bool(data.get("raw", False))
        # ``convert`` (from before every JSON input was rebuilt by its annotation) is accepted and ignored.
        self.float64 = bool(data.get("float64", False))
        select = data.get("select", [])
        if not isinstance(select, list) or not all(isinstance(p, str | int) for p in select):
            raise SpecError(f"{where}.select: a list of field names and indexes, got {select!r}")
        self.select: list[str | int] = select
        self.sha256 = _opt_str(data, "sha256", where)
        self.artifact_type = "Artifact"
        if kind == "artifact":
            self.artifact_type = _choice(data, "type", ARTIFACT_TYPES, where, default="Artifact")
        metadata = data.get("metadata", {})
        if not isinstance(metadata, dict):
            raise SpecError(f"{where}.metadata: an object, got {metadata!r}")
        self.metadata: dict[str, Any] = metadata
        self.format: str = _opt_str(data, "format", where) or "pickle"
        self.is_dir = bool(data.get("dir", False))
        self.none = bool(data.get("none", False))  # "no artifact" (its record says so): the value is None
        verified = data.get("verified")
        if verified is not None and (
            not isinstance(verified, list)
            or len(verified) != 4
            or not all(isinstance(v, int) for v in verified)
        ):
            raise SpecError(f"{where}.verified: [inode, size, mtime_ns, ctime_ns], got {verified!r}")
        self.verified: list[int] | None = verified
        meta = data.get("meta")
        if meta is not None and (
            not isinstance(meta, dict)
            or len(meta) != 1
            or next(iter(meta)) not in ("file", "env", "arg")
            or not isinstance(next(iter(meta.values())), str)
        ):
            raise SpecError(f"{where}.meta: one of {{'file': PATH}}, {{'env': NAME}} or {{'arg': NAME}}")
        self.meta: dict[str, str] | None = meta

    def _collected(self, data: dict[str, Any], where: str) -> None:
        """A list of stored values (fan-in): ``items`` known when the spec is written, or ``records``, a
        source (``value``/``file``/``env``/``arg``) of a JSON list of the producers' output records."""
        self.item_kind = _choice(data, "item_kind", ("object", "artifact"), where)
        items = data.get("items")
        records = data.get("records")
        if (items is None) == (records is None):
            raise SpecError(f"{where}: a collected input needs exactly one of 'items' or 'records'")
        extra: dict[str, Any] = {k: data[k] for k in ("type", "format") if k in data}
        if items is not None:
            if not isinstance(items, list):
                raise SpecError(f"{where}.items: a list of inputs, got {items!r}")
            self.items = [
                InputSpec(
                    {**extra, **_obj(item, where), "name": f"{self.name}[{i}]", "kind": self.item_kind}, where
                )
                for i, item in enumerate(items)
            ]
        else:
            source = _obj(records, f"{where}.records")
            self.records = InputSpec({**source, "name": f"{self.name}.records", "kind": "json"}, where)

    def expand(self, records: list[Any]) -> None:
        """Turn ``records`` (the producers' output records) into one input per element."""
        if not isinstance(records, list):
            raise SpecError(f"inputs.{self.name}.records: a JSON list of output records, got {records!r}")
        items = []
        for i, record in enumerate(records):
            record = _obj(record, f"inputs.{self.name}.records[{i}]")
            location = {k: record[k] for k in ("file", "uri") if record.get(k)}
            if not location:
                raise SpecError(f"inputs.{self.name}.records[{i}]: a record names its 'file' or 'uri'")
            # A record says what it is (the producer knew); the spec's item_kind is for records that do not.
            kind = record.get("kind") if record.get("kind") in ("object", "artifact") else self.item_kind
            extra = (
                {"type": record["type"]}
                if kind == "artifact" and record.get("type") in ARTIFACT_TYPES
                else {}
            )
            item = InputSpec(
                {**location, **extra, "name": f"{self.name}[{i}]", "kind": kind}, f"inputs.{self.name}"
            )
            item.apply_meta(record)
            items.append(item)
        self.items = items

    def apply_meta(self, record: dict[str, Any]) -> None:
        """Take the facts of the producer's output record (its digest, format, type, metadata, URI)."""
        if not isinstance(record, dict):
            raise SpecError(f"inputs.{self.name}.meta: the output record is an object, got {record!r}")
        self.sha256 = record.get("sha256", self.sha256)
        self.format = record.get("format", self.format)
        self.is_dir = bool(record.get("dir", self.is_dir))
        self.none = bool(record.get("none", self.none))
        if self.uri is None:
            self.uri = record.get("uri")
        if self.kind == "artifact":
            self.metadata = dict(record.get("metadata") or self.metadata)


class OutputSpec:
    """One output of the step and where to write it."""

    __slots__ = ("declared", "file", "float64", "kind", "meta_file", "name", "raw", "store")

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.name: str = _str(data, "name", where)
        where = f"outputs.{self.name}"
        self.kind: str = _choice(data, "kind", KINDS, where)
        self.file = _opt_str(data, "file", where)
        self.raw = bool(data.get("raw", False))
        self.float64 = bool(data.get("float64", False))
        self.store = _opt_str(data, "store", where)
        self.declared = _opt_str(data, "type", where)
        self.meta_file = _opt_str(data, "meta_file", where)
        if self.kind != "json" and self.file is None and self.store is None:
            raise SpecError(f"{where}: an {self.kind} output is written to a file; give 'file' (or 'store')")


class CacheSpec:
    """How the runtime itself caches this step (``docs/runtime.md``): the step's digest, and the store that
    holds the cache's entries and blobs. Without ``store`` the runtime caches nothing (the digest is then
    there for the engine's own cache key: KFP's covers the command line)."""

    __slots__ = ("ignore", "max_age", "read", "step", "store")

    def __init__(self, data: object) -> None:
        if not isinstance(data, dict):
            raise SpecError(f"cache: an object with 'step', got {data!r}")
        self.step: str = _str(data, "step", "cache")
        self.store = _opt_str(data, "store", "cache")
        read = data.get("read", True)
        if not isinstance(read, bool):
            raise SpecError(f"cache.read: true or false, got {read!r}")
        self.read: bool = read
        """``False`` for a run that must not reuse (``--no-cache``): the step runs, and its result is kept."""
        ignore = data.get("ignore", [])
        if not isinstance(ignore, list) or not all(isinstance(name, str) for name in ignore):
            raise SpecError(f"cache.ignore: a list of input names, got {ignore!r}")
        self.ignore: frozenset[str] = frozenset(ignore)
        """Inputs the key leaves out (``cache_ignore``)."""
        max_age = data.get("max_age")
        if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, int | float)):
            raise SpecError(f"cache.max_age: seconds, got {max_age!r}")
        self.max_age: float | None = max_age
        """How old an entry may be to be reused (``cache_max_age``), in seconds; ``None``: any age."""


class MarkerSpec:
    """Where an attempt that failed for good leaves word for the later attempts of its task (KFP)."""

    __slots__ = ("key", "root", "touch")

    def __init__(self, data: dict[str, Any]) -> None:
        self.root: str = _str(data, "root", "retry.marker")
        self.key: str = _str(data, "key", "retry.marker")
        self.touch = _opt_str(data, "touch", "retry.marker")


class RetrySpec:
    """The ``retry`` section: the exception classes that end a step for good, and the marker."""

    __slots__ = ("marker", "stop_on")

    def __init__(self, data: object) -> None:
        retry = _obj(data, "retry")
        stop_on = retry.get("stop_on", [])
        if not isinstance(stop_on, list) or not all(isinstance(n, str) and n for n in stop_on):
            raise SpecError(f"retry.stop_on: a list of 'module.Class' names, got {stop_on!r}")
        self.stop_on: list[str] = stop_on
        marker = retry.get("marker")
        self.marker = MarkerSpec(_obj(marker, "retry.marker")) if marker is not None else None


class TolerantSpec:
    """The ``tolerant`` section: the step is an element of a tolerant map (``docs/runtime.md``). Its last
    attempt (or one that fails for good) does not fail: it writes ``placeholders`` and the outcome
    ``failed: ...`` to the output named ``outcome``, which the section takes out of the step's outputs.
    ``counter``: where attempts are counted when the engine cannot say which attempt this is (KFP), keyed
    as the never-retry marker is."""

    __slots__ = ("attempts", "counter", "outcome", "placeholders")

    def __init__(self, data: object) -> None:
        section = _obj(data, "tolerant")
        self.outcome: str = _str(section, "outcome", "tolerant")
        attempts = section.get("attempts", 1)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise SpecError(f"tolerant.attempts: a whole number of at least 1, got {attempts!r}")
        self.attempts: int = attempts
        placeholders = section.get("placeholders", {})
        if not isinstance(placeholders, dict):
            raise SpecError(f"tolerant.placeholders: an object, got {placeholders!r}")
        self.placeholders: dict[str, Any] = placeholders
        counter = section.get("counter")
        self.counter = MarkerSpec(_obj(counter, "tolerant.counter")) if counter is not None else None


CONTEXT_FIELDS = ("run_id", "pipeline", "task", "attempt", "retries", "map_index", "backend", "step_digest")
"""``retries``: what engines count from 0 (Argo's ``{{retries}}``); the attempt is one more.
``step_digest``: the step's ``StepSpec.digest``, for tracking's tags."""


class ContextSpec:
    """Where the step runs (``ml.current()``): each field a value, or ``{"env": NAME}``/``{"arg": NAME}``
    for what only the engine knows when the pod starts (the run's name, the retry number)."""

    __slots__ = ("fields",)

    def __init__(self, data: object) -> None:
        fields = _obj(data, "context")
        for key, value in fields.items():
            if key not in CONTEXT_FIELDS:
                raise SpecError(f"context.{key}: not one of {', '.join(CONTEXT_FIELDS)}")
            if isinstance(value, dict):
                if len(value) != 1 or next(iter(value)) not in ("env", "arg"):
                    raise SpecError(
                        f"context.{key}: a value, {{'env': NAME}} or {{'arg': NAME}}, got {value!r}"
                    )
                if not isinstance(next(iter(value.values())), str):
                    raise SpecError(f"context.{key}: the env or arg name is a string, got {value!r}")
            elif value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
                raise SpecError(f"context.{key}: a string, a whole number or null, got {value!r}")
        self.fields: dict[str, Any] = dict(fields)


class MetricsSpec:
    """Where the metrics a step logs go besides the result record: ``file`` (a JSON list of points, which
    a backend reads as an output) and ``artifact`` (a KFP ``system.Metrics`` output, whose metadata the
    executor output fills with each metric's last value)."""

    __slots__ = ("artifact", "file")

    def __init__(self, data: object) -> None:
        section = _obj(data, "metrics")
        unknown = set(section) - {"file", "artifact"}
        if unknown:
            raise SpecError(f"metrics: unknown keys {sorted(unknown)}")
        self.file = _opt_str(section, "file", "metrics")
        self.artifact = _opt_str(section, "artifact", "metrics")


class CallSpec:
    """A parsed call spec."""

    __slots__ = (
        "cache",
        "code",
        "context",
        "executor_output",
        "inputs",
        "metrics",
        "outcome",
        "outputs",
        "result",
        "retry",
        "returns",
        "scratch",
        "step",
        "sys_path",
        "tolerant",
        "version",
    )

    def __init__(self, data: object) -> None:
        if not isinstance(data, dict):
            raise SpecError(f"a call spec is a JSON object, got {type(data).__name__}")
        version = data.get("version")
        if version != 1:
            raise SpecError(f"call spec version {version!r} is not readable by this runtime (reads 1)")
        self.version = 1
        self.step: str = _str(data, "step", "spec")
        code = data.get("code")
        if not isinstance(code, dict):
            raise SpecError("code: an object with 'mode' is required")
        self.code = CodeSpec(code)
        self.inputs = [InputSpec(_obj(item, "inputs"), "inputs") for item in _list(data, "inputs")]
        self.outputs = [OutputSpec(_obj(item, "outputs"), "outputs") for item in _list(data, "outputs")]
        self.tolerant = TolerantSpec(data["tolerant"]) if data.get("tolerant") is not None else None
        self.outcome: OutputSpec | None = None
        """The output a tolerant element reports its outcome in; not one of the step's own outputs."""
        if self.tolerant is not None:
            found = [o for o in self.outputs if o.name == self.tolerant.outcome]
            if len(found) != 1 or found[0].kind != "json":
                raise SpecError(f"tolerant.outcome: names no JSON output ({self.tolerant.outcome!r})")
            self.outcome = found[0]
            self.outputs = [o for o in self.outputs if o is not found[0]]
        self.returns: str = _choice(data, "returns", ("single", "fields", "none"), "spec")
        if self.returns == "single" and len(self.outputs) != 1:
            raise SpecError(f"returns 'single' needs exactly one output, got {len(self.outputs)}")
        if self.returns == "none" and self.outputs:
            raise SpecError("returns 'none' takes no outputs")
        sys_path = data.get("sys_path", [])
        if not isinstance(sys_path, list) or not all(isinstance(p, str) for p in sys_path):
            raise SpecError("sys_path: a list of folders")
        self.sys_path: list[str] = sys_path
        self.result = _opt_str(data, "result", "spec")
        self.scratch = _opt_str(data, "scratch", "spec")
        self.cache = CacheSpec(data["cache"]) if data.get("cache") is not None else None
        self.retry = RetrySpec(data["retry"]) if data.get("retry") is not None else None
        self.context = ContextSpec(data["context"]) if data.get("context") is not None else None
        self.metrics = MetricsSpec(data["metrics"]) if data.get("metrics") is not None else None
        # Where to write a KFP ``ExecutorOutput``: a path, or the ``arg``/``env`` whose text is the path.
        self.executor_output: str | InputSpec | None = None
        where = data.get("executor_output")
        if isinstance(where, dict) and len(where) == 1 and next(iter(where)) in ("env", "arg"):
            self.executor_output = InputSpec(
                {"name": "executor_output", "kind": "json", "raw": True, **where}, "spec"
            )
        elif isinstance(where, str) and where:
            self.executor_output = where
        elif where is not None:
            raise SpecError(f"executor_output: a path, {{'arg': NAME}} or {{'env': NAME}}, got {where!r}")


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"{where}: each entry is an object, got {value!r}")
    return value


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise SpecError(f"{key}: a list, got {type(value).__name__}")
    return value


def _str(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise SpecError(f"{where}.{key}: a non-empty string is required, got {value!r}")
    return value


def _opt_str(data: dict[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise SpecError(f"{where}.{key}: a string, got {value!r}")
    return value


def _choice(
    data: dict[str, Any], key: str, allowed: tuple[str, ...], where: str, default: str | None = None
) -> str:
    value = data.get(key, default)
    if value not in allowed:
        raise SpecError(f"{where}.{key}: one of {', '.join(allowed)}, got {value!r}")
    return str(value)
