"""Running one step: load the function, read the inputs, call it, write the outputs, report.

:func:`execute` never raises for a failing step: it returns a *result record* (and writes it where the spec
says) holding the outputs, or the error with the step's own traceback, the runtime's frames removed. The
phase that failed (``spec``, ``retry``, ``load``, ``inputs``, ``call``, ``outputs``) and whether a retry
can help are part of it (the rule is in :mod:`._retry`). :func:`main` is the command line; its exit status
is 0 on success, 1 when the step failed and 2 when it failed for good and must not be retried.
"""

from __future__ import annotations

import json
import os
import sys
import time

from . import tracking
from ._code import LoadError, load_function
from ._io import (
    IntegrityError,
    check_digest,
    copy_into,
    read_text,
    remove,
    sha256_path,
    write_bytes,
    write_json_output,
)
from ._retry import (
    EXIT_FAILED,
    EXIT_NEVER_RETRY,
    EarlierFailure,
    count_attempt,
    read_marker,
    stops,
    touch,
    write_marker,
)
from ._spec import CallSpec, InputSpec, MarkerSpec, OutputSpec, SpecError
from ._tolerance import outcome
from ._values import LossyValue, annotations_of, check_float64, from_json, select, to_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

CALL_SPEC_VERSION = 1
_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class _Failure(Exception):
    def __init__(self, phase: str, exc: BaseException, retry: bool = True) -> None:
        super().__init__(str(exc))
        self.phase = phase
        self.exc = exc
        self.retry = retry


def execute(
    spec: dict[str, Any],
    *,
    function: Callable[..., Any] | None = None,
    args: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the step that ``spec`` describes and return its result record.

    Args:
        spec: A call spec (``docs/runtime.md``).
        function: The step's function, when the caller has it already (the in-process executor); the
            spec's ``code`` is then not loaded, and everything else happens exactly as in a subprocess.
        args: Values for inputs whose source is ``arg`` (``--arg NAME=TEXT`` on the command line).

    Returns:
        ``{"ok": True, "outputs": {...}}`` or ``{"ok": False, "error": {...}}``, plus ``step``,
        ``python`` and ``seconds``.
    """
    started = time.perf_counter()
    record: dict[str, Any] = {"version": CALL_SPEC_VERSION, "python": sys.version.split()[0]}
    result_path = spec.get("result") if isinstance(spec, dict) else None
    marker: MarkerSpec | None = None
    parsed: CallSpec | None = None
    attempt: int | None = None
    try:
        record["step"] = spec.get("step") if isinstance(spec, dict) else None
        try:
            parsed = CallSpec(spec)
        except SpecError as exc:
            raise _Failure("spec", exc, retry=False) from None
        marker = parsed.retry.marker if parsed.retry is not None else None
        if parsed.tolerant is not None:
            attempt = _attempt(parsed, args or {})
        record["outputs"] = _run(parsed, function, args or {}, record)
        if parsed.outcome is not None:
            record["outputs"][parsed.outcome.name] = write_json_output(parsed.outcome, outcome(None))
        record["ok"] = True
    except _Failure as failure:
        record["ok"] = False
        record["error"] = _describe(failure)
        if parsed is not None and _tolerated(parsed, failure, attempt):
            _tolerate(parsed, record, args or {})
        elif marker is not None and not failure.retry and failure.phase != "retry":
            _leave_marker(marker, str(record["step"]), record["error"])
    record["seconds"] = round(time.perf_counter() - started, 6)
    if parsed is not None and os.environ.get("MLOPSDSL_PUSHGATEWAY"):
        here = current(parsed, args or {})
        if here.backend != "local":  # the local runner pushes for its steps, knowing more than a step
            from .push import push_attempt

            push_attempt(record, here, record["seconds"], record.get("bytes_read", 0))
    if parsed is not None and (os.environ.get("MLOPSDSL_TRACKING") or os.environ.get("MLFLOW_TRACKING_URI")):
        from . import _mlflow

        if _mlflow.configured():
            _mlflow.log_attempt(parsed, args or {}, record, current(parsed, args or {}))
    if isinstance(result_path, str):
        write_bytes(result_path, json.dumps(record, ensure_ascii=False).encode())
    return record


def _attempt(spec: CallSpec, args: dict[str, str]) -> int | None:
    """Which attempt of its task this is (1 for the first): from the engine (Argo's ``{{retries}}``,
    Airflow's try number, in the spec's ``context``), or counted in the store where the engine cannot
    say (KFP). ``None`` when nobody knows."""
    assert spec.tolerant is not None
    if spec.tolerant.counter is None:
        return current(spec, args).attempt
    try:
        touch(spec.tolerant.counter)
        return count_attempt(spec.tolerant.counter)
    except Exception as exc:  # the store is unreachable now: this attempt fails, and may be retried
        raise _Failure("retry", exc) from None


def _tolerated(spec: CallSpec, failure: _Failure, attempt: int | None) -> bool:
    """Whether a tolerant element's failure ends as a reported outcome rather than a failed pod: when no
    attempt is left (this was the last, or retrying cannot help). A step with stored outputs has no
    placeholder to write (lowering never makes one tolerant)."""
    tolerant = spec.tolerant
    if tolerant is None or spec.outcome is None or any(o.kind != "json" for o in spec.outputs):
        return False
    last = tolerant.attempts <= 1 or (attempt is not None and attempt >= tolerant.attempts)
    return last or not failure.retry


def _tolerate(spec: CallSpec, record: dict[str, Any], args: dict[str, str]) -> None:
    """Turn ``record`` into a tolerated failure: placeholders for the outputs, the error as the outcome."""
    assert spec.tolerant is not None and spec.outcome is not None
    error = record["error"]
    outputs = {o.name: write_json_output(o, spec.tolerant.placeholders.get(o.name)) for o in spec.outputs}
    outputs[spec.outcome.name] = write_json_output(spec.outcome, outcome(error))
    _write_metrics(spec, [], {}, args)  # the engine collects the metrics file of every pod that succeeds
    record.update(ok=True, outputs=outputs, tolerated=record.pop("error"))


def _leave_marker(marker: MarkerSpec, step: str, error: dict[str, Any]) -> None:
    """Tell later attempts of this task that this one failed for good. If the store cannot be written the
    step still fails for good; only a later attempt would then run again, so say so in the error."""
    entry = {"step": step, "phase": error["phase"], "type": error["type"], "message": error["message"]}
    try:
        error["marker"] = write_marker(marker, entry)
    except Exception as exc:
        error["message"] += (
            f"\n(the never-retry marker could not be written to {marker.root}: {type(exc).__name__}: {exc}; "
            "a later attempt of this task would run the step again)"
        )


def _check_marker(spec: CallSpec, marker: MarkerSpec) -> None:
    try:
        touch(marker)
        earlier = read_marker(marker)
    except Exception as exc:  # the store is unreachable now: a later attempt may find it again
        raise _Failure("retry", exc) from None
    if earlier is not None:
        what = f"{earlier.get('type')}: {earlier.get('message')}" if earlier.get("type") else str(earlier)
        raise _Failure(
            "retry",
            EarlierFailure(
                f"an earlier attempt of step {spec.step!r} in this task failed for good ({what}); the "
                "engine started it again, as it retries whatever the error, so this attempt stops without "
                "running the step"
            ),
            retry=False,
        )


def _run(
    spec: CallSpec, function: Callable[..., Any] | None, args: dict[str, str], record: dict[str, Any]
) -> dict[str, Any]:
    if spec.retry is not None and spec.retry.marker is not None:
        _check_marker(spec, spec.retry.marker)
    for folder in reversed(spec.sys_path):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    cache = None
    if spec.cache is not None and spec.cache.store is not None:
        # Before the function is loaded: a hit needs neither the step's code nor cloudpickle.
        from ._cache import PodCache

        cache = PodCache(spec, args)
        record["cache"] = {"key": cache.key, "hit": False}
        outputs = cache.lookup()
        if outputs is not None:
            record["cache"]["hit"] = True
            try:  # nothing was logged, yet the backend reads the metrics and the executor output
                _write_metrics(spec, [], outputs, args)
            except Exception as exc:
                raise _Failure("outputs", exc) from None
            return outputs
    outputs = _call(spec, function, args, record)
    if cache is not None:
        cache.keep(outputs)
    return outputs


def _call(
    spec: CallSpec, function: Callable[..., Any] | None, args: dict[str, str], record: dict[str, Any]
) -> dict[str, Any]:
    if function is None:
        try:
            function = load_function(spec.code, spec.step)
        except LoadError as exc:
            raise _Failure("load", exc, retry=exc.retry) from None
        except SpecError as exc:
            raise _Failure("spec", exc, retry=False) from None
        except Exception as exc:  # the user's module raised while it was imported or unpickled
            raise _Failure("load", exc) from None
    scratch = _Scratch(spec)
    stop_on = spec.retry.stop_on if spec.retry is not None else []
    try:
        try:
            kwargs = _inputs(spec, function, args, scratch)
            record["bytes_read"] = scratch.bytes_read
        except _Failure:
            raise
        except (SpecError, IntegrityError, LossyValue) as exc:
            # A malformed record is a bug, damaged stored bytes stay damaged, a value rounded on the way
            # stays rounded: none of them is bad luck.
            raise _Failure("inputs", exc, retry=False) from None
        except Exception as exc:
            raise _Failure("inputs", exc) from None
        token = scratch.open_staging()
        recorder, watching = tracking.start(current(spec, args))
        try:
            value = function(**kwargs)
        except Exception as exc:
            raise _Failure("call", exc, retry=stops(exc, stop_on) is None) from None
        finally:
            tracking.stop(watching)
            scratch.close_staging(token)
            record["metrics"] = recorder.points
        try:
            outputs = _outputs(spec, value, scratch)
            _write_metrics(spec, recorder.points, outputs, args)
            return outputs
        except LossyValue as exc:  # the same value would be rounded again
            raise _Failure("outputs", exc, retry=False) from None
        except Exception as exc:
            raise _Failure("outputs", exc) from None
    finally:
        scratch.cleanup()


class _Scratch:
    """Local room for one execution: downloaded inputs, and the staging folder of ``Artifact.new``.

    The staging folder is made next to the first stored output's file (the same file system, so a
    returned ``Artifact.new`` path is moved into place, not copied), else in a temporary folder, under
    ``scratch`` when the spec gives it. Everything here is removed when the step ends.
    """

    def __init__(self, spec: CallSpec) -> None:
        self.spec = spec
        self._temp: str | None = None
        self.staging: str | None = None
        self.bytes_read = 0
        """Bytes of the stored inputs handed to the step (for the Pushgateway's numbers)."""
        self._made: list[str] = []

    def temp(self) -> str:
        if self._temp is None:
            import tempfile

            base = self.spec.scratch
            if base is not None:
                os.makedirs(base, exist_ok=True)
            self._temp = tempfile.mkdtemp(prefix="mlopsdsl-", dir=base)
            self._made.append(self._temp)
        return self._temp

    def open_staging(self) -> Any:
        if not any(out.kind == "artifact" for out in self.spec.outputs):
            return None
        from mlopsdsl import artifacts

        beside = next((o.file for o in self.spec.outputs if o.kind != "json" and o.file), None)
        if beside is not None:
            import tempfile

            folder = os.path.dirname(os.path.abspath(beside))
            os.makedirs(folder, exist_ok=True)
            self.staging = tempfile.mkdtemp(prefix=".staging-", dir=folder)
            self._made.append(self.staging)
        else:
            self.staging = os.path.join(self.temp(), "staging")
            os.makedirs(self.staging)
        return artifacts._STAGING.set(self.staging)

    def close_staging(self, token: Any) -> None:
        if token is not None:
            from mlopsdsl import artifacts

            artifacts._STAGING.reset(token)

    def cleanup(self) -> None:
        for folder in self._made:
            remove(folder)


def _inputs(
    spec: CallSpec, fn: Callable[..., Any], args: dict[str, str], scratch: _Scratch
) -> dict[str, Any]:
    hints = annotations_of(fn)
    kwargs: dict[str, Any] = {}
    for item in spec.inputs:
        if item.meta is not None:
            source = InputSpec({"name": item.name, "kind": "json", **item.meta}, "inputs")
            item.apply_meta(json.loads(read_text(source, args)))
        value = _read(item, args, scratch, hints)
        if item.kind == "json":
            # JSON lost what the annotation says (a whole float, a tuple, a model): the step gets its type.
            try:
                value = from_json(hints.get(item.name), value)
            except Exception as exc:  # the value does not fit the parameter: it will not next time either
                raise _Failure("inputs", exc, retry=False) from None
            if item.float64:
                check_float64(value, f"input {item.name!r}")
        kwargs[item.name] = value
    return kwargs


def _read(item: InputSpec, args: dict[str, str], scratch: _Scratch, hints: dict[str, Any]) -> Any:
    if item.kind == "collected":
        if item.records is not None:
            source = item.records
            item.expand(source.value if source.has_value else json.loads(read_text(source, args)))
        if item.select and isinstance(item.select[0], int):
            # One element (a map over another map's stored results): read it as a single stored input
            # of the parameter's own type, with the rest of the selection, and leave the others unread.
            part = (item.items or [])[item.select[0]]
            part.select = list(item.select[1:])
            return _read(part, args, scratch, {part.name: hints.get(item.name)})
        element = None if item.select else _element_hint(hints.get(item.name))
        values = [_read(part, args, scratch, {part.name: element}) for part in item.items or []]
        return select(values, item.select)  # a field of every element, for ``results.name``
    if item.kind == "json":
        if item.has_value:
            value = item.value
        else:
            text = read_text(item, args)
            value = text if item.raw else json.loads(text)
        try:
            return select(value, item.select)
        except Exception as exc:  # a field path the value does not have
            raise _Failure("inputs", exc, retry=False) from None
    if item.none:
        return None
    path = _local_copy(item, scratch)
    if item.kind == "object":
        from . import serializers

        annotation = hints.get(item.name)
        return serializers.load(path, item.format, annotation, item.select)
    from mlopsdsl import artifacts

    cls = getattr(artifacts, item.artifact_type)
    return cls(path=path, uri=item.uri, metadata=item.metadata)


def _element_hint(annotation: Any) -> Any:
    """``T`` of a ``list[T]`` annotation (what each collected element is read as), else ``None``."""
    args = getattr(annotation, "__args__", None)
    return args[0] if args else None


def _local_copy(item: InputSpec, scratch: _Scratch) -> str:
    """A local path holding the input's bytes, checked against the recorded digest."""
    path = _fetched(item, scratch)
    scratch.bytes_read += _size(path)
    return path


def _size(path: str) -> int:
    if not os.path.isdir(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _fetched(item: InputSpec, scratch: _Scratch) -> str:
    if item.file is not None:
        check_digest(item, item.file)
        return item.file
    assert item.uri is not None
    if item.uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        path = unquote(urlparse(item.uri).path)
        check_digest(item, path)
        return path
    from ._remote import fetch

    path = os.path.join(scratch.temp(), "inputs", item.name)
    fetch(item.uri, item.sha256, path, item.is_dir)
    return path


def _outputs(spec: CallSpec, value: Any, scratch: _Scratch) -> dict[str, Any]:
    if spec.returns == "none":
        return {}
    values = {spec.outputs[0].name: value} if spec.returns == "single" else _fields(spec, value)
    # A built-in step may output "no artifact" (an optional artifact parameter left out: import_artifact
    # returns None); a user's step that returns None for an artifact is a mistake, as ever.
    absent_ok = spec.code.module == "mlopsdsl.runtime.builtins"
    return {out.name: _write(out, values[out.name], scratch, absent_ok) for out in spec.outputs}


def _fields(spec: CallSpec, value: Any) -> dict[str, Any]:
    names = [o.name for o in spec.outputs]
    if not isinstance(value, tuple) or len(value) != len(names):
        raise TypeError(
            f"step {spec.step!r} must return its outputs ({', '.join(names)}) as a NamedTuple, "
            f"got {type(value).__name__}"
        )
    fields = getattr(value, "_fields", None)
    if fields is not None and set(fields) == set(names):
        return {name: getattr(value, name) for name in names}
    return dict(zip(names, value, strict=True))


def _write(out: OutputSpec, value: Any, scratch: _Scratch, absent_ok: bool = False) -> dict[str, Any]:
    where = f"output {out.name!r}"
    if out.kind == "json":
        value = to_json(value, where)
        if out.float64:
            check_float64(value, where)
        return write_json_output(out, value)
    target = out.file or os.path.join(scratch.temp(), "outputs", out.name)
    record: dict[str, Any] = {"kind": out.kind}
    if value is None and out.kind == "artifact" and absent_ok:
        # "No artifact": an empty file where the engine expects one, and a record that says so
        # (``none``), which every reader turns back into None.
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        digest, size = write_bytes(target, b"")
        is_dir = False
        record.update(type="Artifact", metadata={}, none=True)
    elif out.kind == "object":
        from . import serializers

        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        tmp = f"{target}.{os.getpid()}.tmp"
        try:
            record["format"] = serializers.dump(value, tmp, out.declared)
            digest, size = sha256_path(tmp)
            is_dir = os.path.isdir(tmp)
            os.replace(tmp, target)
        except BaseException:
            remove(tmp)
            raise
    else:
        path = getattr(value, "path", None)
        if not isinstance(path, str):
            raise TypeError(f"{where} must be an ml.Artifact (or Dataset, Model) with a path, got {value!r}")
        metadata = to_json(getattr(value, "metadata", None) or {}, f"{where} metadata")
        if out.float64:  # the record travels as doubles too
            check_float64(metadata, f"{where} metadata")
        digest, size, is_dir = copy_into(path, target, owned=scratch.staging)
        record["type"] = type(value).__name__
        record["metadata"] = metadata
    record.update(sha256=digest, size=size, dir=is_dir)
    if out.store is not None:
        from ._remote import store

        record["uri"] = store(target, out.store, None if is_dir else digest)[0]
    if out.file is not None:
        record["file"] = out.file
    else:
        remove(target)
    if out.meta_file is not None:
        meta = {k: v for k, v in record.items() if k != "file"}
        write_bytes(out.meta_file, json.dumps(meta, ensure_ascii=False, sort_keys=True).encode())
    return record


def current(spec: CallSpec, args: dict[str, str]) -> tracking.Current:
    """``ml.current()`` for this step: the spec's ``context``, with what the engine filled in at start."""
    fields: dict[str, Any] = {}
    for key, value in (spec.context.fields if spec.context is not None else {}).items():
        if isinstance(value, dict):
            value = os.environ.get(value["env"]) if "env" in value else args.get(value["arg"])
        if key in ("attempt", "retries", "map_index") and isinstance(value, str):
            value = int(value) if value.strip().isdigit() else None
        fields[key] = value if value != "" else None
    fields.pop("step_digest", None)  # for tracking (MLflow tags), not part of ml.current()
    retries = fields.pop("retries", None)
    if fields.get("attempt") is None and isinstance(retries, int):
        fields["attempt"] = retries + 1
    fields.setdefault("backend", "unknown")  # a spec without context still runs inside a run
    return tracking.Current(step=spec.step, **fields)


def _write_metrics(
    spec: CallSpec, points: list[dict[str, Any]], outputs: dict[str, Any], args: dict[str, str]
) -> None:
    """Where the backend reads the metrics: the spec's ``metrics.file``; and the executor output (the
    ``system.Metrics`` artifact's metadata, which KFP's metrics tab shows)."""
    if spec.metrics is not None and spec.metrics.file is not None:
        write_bytes(spec.metrics.file, json.dumps(points, ensure_ascii=False).encode())
    if spec.executor_output is not None:
        extra = None
        if spec.metrics is not None and spec.metrics.artifact is not None:
            extra = {spec.metrics.artifact: tracking.last_values(points)}
        _executor_output(spec.executor_output, outputs, args, extra)


def _executor_output(
    where: str | InputSpec,
    outputs: dict[str, Any],
    args: dict[str, str],
    extra: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Write a KFP ``ExecutorOutput`` (its JSON form) with each artifact output's metadata.

    KFP's launcher merges ``artifacts[NAME].artifacts[0].metadata`` into the output artifact it records,
    which is what the KFP UI shows; digests and formats still travel in the output record (``meta_file``).
    ``extra``: the metadata of artifacts the runtime itself writes (the ``system.Metrics`` one).
    """
    path = where if isinstance(where, str) else read_text(where, args)
    artifacts = {
        name: {"artifacts": [{"metadata": record.get("metadata") or {}}]}
        for name, record in outputs.items()
        if record.get("kind") == "artifact"
    }
    for name, metadata in (extra or {}).items():
        artifacts[name] = {"artifacts": [{"metadata": metadata}]}
    write_bytes(path, json.dumps({"artifacts": artifacts}, ensure_ascii=False, sort_keys=True).encode())


def _describe(failure: _Failure) -> dict[str, Any]:
    exc = failure.exc
    if failure.phase in ("spec", "retry") or isinstance(exc, LoadError):
        trace = f"{type(exc).__name__}: {exc}\n"
    else:
        trace = format_user_traceback(exc)
    return {
        "phase": failure.phase,
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": trace,
        "retry": failure.retry,
    }


def format_user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without the runtime's own frames: what the user's code did."""
    import traceback

    te = traceback.TracebackException.from_exception(exc)
    seen: set[int] = set()
    todo = [te]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        frames = [f for f in item.stack if not f.filename.startswith(_HERE)]
        item.stack = traceback.StackSummary.from_list(frames)
        todo.extend(x for x in (item.__cause__, item.__context__) if x is not None)
    return "".join(te.format())


# --------------------------------------------------------------------------- command line

_USAGE = """usage: python -m mlopsdsl.runtime SPEC.json [--arg NAME=TEXT ...]
       python -m mlopsdsl.runtime --spec-json TEXT [--arg NAME=TEXT ...]

Run one mlopsdsl step as the call spec describes (SPEC '-' reads it from standard input).
Exit status: 0 success, 1 the step failed, 2 it failed for good and must not be retried."""


def main(argv: list[str]) -> int:
    """The command line. Returns the exit status."""
    spec_text: str | None = None
    args: dict[str, str] = {}
    items = list(argv)
    while items:
        item = items.pop(0)
        if item in ("-h", "--help"):
            print(_USAGE)
            return 0
        if item in ("--arg", "--spec-json") and items:
            value = items.pop(0)
            if item == "--spec-json":
                spec_text = value
                continue
            name, sep, text = value.partition("=")
            if not sep:
                print(f"--arg takes NAME=TEXT, got {value!r}", file=sys.stderr)
                return EXIT_NEVER_RETRY
            args[name] = text
        elif spec_text is None and not item.startswith("--"):
            if item == "-":
                spec_text = sys.stdin.read()
            else:
                with open(item, encoding="utf-8") as handle:
                    spec_text = handle.read()
        else:
            print(_USAGE, file=sys.stderr)
            return EXIT_NEVER_RETRY
    if spec_text is None:
        print(_USAGE, file=sys.stderr)
        return EXIT_NEVER_RETRY
    try:
        spec = json.loads(spec_text)
    except ValueError as exc:
        print(f"mlopsdsl runtime: the call spec is not JSON: {exc}", file=sys.stderr)
        return EXIT_NEVER_RETRY
    record = execute(spec, args=args)
    if record["ok"]:
        tolerated = record.get("tolerated")
        if tolerated is not None:  # in the pod's log, though the pod succeeds
            print(
                f"mlopsdsl runtime: step {record.get('step')!r} failed ({tolerated['phase']}); its tolerant "
                "map leaves this element out:",
                file=sys.stderr,
            )
            print(tolerated["traceback"].rstrip(), file=sys.stderr)
        return 0
    error = record["error"]
    print(f"mlopsdsl runtime: step {record.get('step')!r} failed ({error['phase']}):", file=sys.stderr)
    print(error["traceback"].rstrip(), file=sys.stderr)
    return EXIT_FAILED if error["retry"] else EXIT_NEVER_RETRY
