"""The step runtime on its own: the call-spec contract, code loading, its weight, and the bundle."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mlopsdsl.runtime import execute
from mlopsdsl.runtime.bundle import BOOTSTRAP, bundle, unpack
from mlopsdsl.runtime.payload import pickle_function

HELPERS = """
import json

PREFIX = "n="

def describe(n):
    return PREFIX + json.dumps(n)

def step(n: int, label: str) -> str:
    return label + ":" + describe(n)

def fields(n: int):
    return (n, n * 2)
"""


@pytest.fixture
def helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    (tmp_path / "rt_helpers.py").write_text(HELPERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    sys.modules.pop("rt_helpers", None)
    import rt_helpers

    yield rt_helpers
    sys.modules.pop("rt_helpers", None)


def _runtime(*args: str, cwd: Path, python: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    command = python or [sys.executable, "-m", "mlopsdsl.runtime"]
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def _value_spec(tmp_path: Path, fn: Any, **extra: Any) -> dict[str, Any]:
    (tmp_path / "fn.pkl").write_bytes(pickle_function(fn))
    spec = {
        "version": 1,
        "step": "step",
        "code": {
            "mode": "value",
            "file": str(tmp_path / "fn.pkl"),
            "python": "{}.{}".format(*sys.version_info[:2]),
        },
        "inputs": [
            {"name": "n", "kind": "json", "arg": "n"},
            {"name": "label", "kind": "json", "env": "LABEL", "raw": True},
        ],
        "outputs": [
            {"name": "output", "kind": "json", "file": str(tmp_path / "out" / "output"), "raw": True}
        ],
        "returns": "single",
        "result": str(tmp_path / "result.json"),
    }
    spec.update(extra)
    return spec


def test_by_value_step_runs_in_a_fresh_interpreter(tmp_path: Path, helpers: Any) -> None:
    spec = _value_spec(tmp_path, helpers.step)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    done = subprocess.run(
        [sys.executable, "-m", "mlopsdsl.runtime", "spec.json", "--arg", "n=[1, 2]"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"LABEL": 'a "{{raw}}" $(x)', "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "output").read_text() == 'a "{{raw}}" $(x):n=[1, 2]'
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["ok"] and result["outputs"]["output"]["value"] == 'a "{{raw}}" $(x):n=[1, 2]'


def test_python_version_mismatch_is_reported_and_not_retried(tmp_path: Path, helpers: Any) -> None:
    spec = _value_spec(tmp_path, helpers.step)
    spec["code"]["python"] = "3.99"
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    done = _runtime("spec.json", "--arg", "n=1", cwd=tmp_path)
    assert done.returncode == 2
    assert "step 'step' was pickled by Python 3.99, but this is Python 3." in done.stderr
    assert "python:3.99 image" in done.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["error"]["phase"] == "load" and result["error"]["retry"] is False


def test_import_mode_and_the_runtime_stays_light(tmp_path: Path, helpers: Any) -> None:
    spec = {
        "version": 1,
        "step": "fields",
        "code": {"mode": "import", "module": "rt_helpers", "qualname": "fields"},
        "sys_path": [str(tmp_path)],
        "inputs": [{"name": "n", "kind": "json", "value": 4}],
        "outputs": [
            {"name": "a", "kind": "json"},
            {"name": "b", "kind": "object", "file": str(tmp_path / "b")},
        ],
        "returns": "fields",
        "result": str(tmp_path / "result.json"),
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    probe = textwrap.dedent(
        """
        import runpy, sys
        sys.argv = ["runtime", "spec.json"]
        try:
            runpy.run_module("mlopsdsl.runtime", run_name="__main__")
        except SystemExit as exc:
            assert exc.code == 0, exc.code
        heavy = ("pydantic", "typer", "rich", "yaml", "fsspec")
        heavy += ("mlopsdsl.ir", "mlopsdsl._step", "mlopsdsl.local", "mlopsdsl.runtime._cache")
        print(sorted(m for m in sys.modules if m.startswith(heavy)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["outputs"]["a"] == {"kind": "json", "value": 4}
    assert (
        result["outputs"]["b"]["format"] in ("cloudpickle", "pickle")
        and len(result["outputs"]["b"]["sha256"]) == 64
    )


def test_bundle_runs_a_by_value_step_without_site_packages(tmp_path: Path, helpers: Any) -> None:
    (tmp_path / "runtime.zip").write_bytes(unpack(bundle()))
    spec = _value_spec(tmp_path, helpers.step)
    spec["inputs"][1] = {"name": "label", "kind": "json", "value": "x"}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    # -I -S: no site-packages, no PYTHONPATH: neither mlopsdsl nor cloudpickle is installed for it.
    python = [sys.executable, "-I", "-S", "-c", BOOTSTRAP, str(tmp_path / "runtime.zip")]
    done = _runtime("spec.json", "--arg", "n=3", cwd=tmp_path, python=python)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "output").read_text() == "x:n=3"


def test_errors_carry_the_users_traceback_and_phase(helpers: Any) -> None:
    def broken(n: int) -> int:
        return helpers.describe(n) + 1  # str + int

    spec = {
        "version": 1,
        "step": "broken",
        "code": {"mode": "import", "module": "x", "qualname": "y"},
        "inputs": [{"name": "n", "kind": "json", "value": 1}],
        "outputs": [{"name": "output", "kind": "json"}],
        "returns": "single",
    }
    result = execute(spec, function=broken)
    error = result["error"]
    assert not result["ok"] and error["phase"] == "call" and error["type"] == "TypeError"
    assert "in broken" in error["traceback"] and "mlopsdsl/runtime" not in error["traceback"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 7}, "call spec version 7 is not readable"),
        ({"returns": "maybe"}, "spec.returns: one of single, fields, none"),
        (
            {"inputs": [{"name": "n", "kind": "json"}]},
            "inputs.n: give exactly one of value, file, env or arg",
        ),
        (
            {"inputs": [{"name": "n", "kind": "object", "value": 1}]},
            "inputs.n: an object input is read from a file",
        ),
    ],
)
def test_malformed_specs_are_not_retried(change: dict[str, Any], message: str) -> None:
    spec = {
        "version": 1,
        "step": "s",
        "code": {"mode": "import", "module": "m", "qualname": "f"},
        "inputs": [],
        "outputs": [],
        "returns": "none",
        **change,
    }
    result = execute(spec)
    assert result["error"]["phase"] == "spec" and result["error"]["retry"] is False
    assert message in result["error"]["message"]


def test_a_damaged_stored_input_fails_its_digest_check(tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(b"not what was written")
    spec = {
        "version": 1,
        "step": "s",
        "code": {"mode": "import", "module": "m", "qualname": "f"},
        "inputs": [{"name": "x", "kind": "object", "file": str(tmp_path / "blob"), "sha256": "0" * 64}],
        "outputs": [],
        "returns": "none",
    }
    result = execute(spec, function=lambda x: None)
    assert (
        result["error"]["type"] == "IntegrityError" and "was changed or damaged" in result["error"]["message"]
    )
    assert result["error"]["retry"] is False  # the same bytes will be read next time


# --------------------------------------------------------------------------- retries


class Unusable(Exception):
    pass


class WorseStill(Unusable):
    pass


def _calls_spec(tmp_path: Path, **retry: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "version": 1,
        "step": "s",
        "code": {"mode": "import", "module": "m", "qualname": "f"},
        "inputs": [{"name": "x", "kind": "json", "value": 1}],
        "outputs": [],
        "returns": "none",
    }
    if retry:
        spec["retry"] = retry
    return spec


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (RuntimeError("flaky"), True),
        (Unusable("bad"), False),
        (WorseStill("worse"), False),  # a subclass of a listed class
        (ValueError("not listed"), True),
    ],
)
def test_stop_on_names_the_errors_that_end_a_step(tmp_path: Path, error: Exception, retry: bool) -> None:
    def f(x: int) -> None:
        raise error

    spec = _calls_spec(tmp_path, stop_on=[f"{__name__}.Unusable", "builtins.KeyError"])
    result = execute(spec, function=f)
    assert result["error"]["phase"] == "call" and result["error"]["retry"] is retry


def test_errors_after_the_function_ran_are_retried(tmp_path: Path) -> None:
    spec = {**_calls_spec(tmp_path), "returns": "single", "outputs": [{"name": "output", "kind": "json"}]}
    result = execute(spec, function=lambda x: {1: "a key JSON cannot hold"})
    assert result["error"]["phase"] == "outputs" and result["error"]["retry"] is True


def test_an_input_that_does_not_fit_is_not_retried(tmp_path: Path) -> None:
    spec = _calls_spec(tmp_path)
    spec["inputs"] = [{"name": "x", "kind": "json", "value": {"a": 1}, "select": ["b"]}]
    result = execute(spec, function=lambda x: None)
    assert result["error"]["phase"] == "inputs" and result["error"]["retry"] is False


def test_the_exit_status_says_failed_for_good(tmp_path: Path) -> None:
    """Argo's retry expression reads the exit status: 2 for an error listed in stop_on, 1 otherwise."""
    (tmp_path / "rt_stop.py").write_text(
        "class Unusable(Exception):\n    pass\n\n"
        "def f(x):\n    raise Unusable('no') if x else RuntimeError('maybe')\n"
    )
    statuses = []
    for x in (1, 0):
        spec = _calls_spec(tmp_path, stop_on=["rt_stop.Unusable"])
        spec["code"] = {"mode": "import", "module": "rt_stop", "qualname": "f"}
        spec["sys_path"] = [str(tmp_path)]
        spec["inputs"] = [{"name": "x", "kind": "json", "value": x}]
        statuses.append(_runtime("--spec-json", json.dumps(spec), cwd=tmp_path).returncode)
    assert statuses == [2, 1]


def test_a_marker_stops_later_attempts_before_the_step_runs(tmp_path: Path) -> None:
    calls: list[int] = []

    def f(x: int) -> None:
        calls.append(x)
        raise Unusable("the input cannot be used")

    marker = {"root": str(tmp_path / "store"), "key": "run-1/task/7", "touch": str(tmp_path / "art" / "m")}
    spec = _calls_spec(tmp_path, stop_on=[f"{__name__}.Unusable"], marker=marker)
    first = execute(spec, function=f)
    assert first["error"]["retry"] is False and first["error"]["marker"].startswith(str(tmp_path / "store"))
    assert (tmp_path / "art" / "m").is_file()  # the artifact KFP's launcher uploads exists
    second = execute(spec, function=f)
    assert calls == [1]
    error = second["error"]
    assert (error["phase"], error["type"], error["retry"]) == ("retry", "EarlierFailure", False)
    assert "failed for good (Unusable: the input cannot be used)" in error["message"]
    # Another execution of the task (another key) is not stopped.
    other = execute(_calls_spec(tmp_path, stop_on=[], marker={**marker, "key": "run-1/task/8"}), function=f)
    assert other["error"]["phase"] == "call" and calls == [1, 1]


def test_a_retryable_failure_leaves_no_marker(tmp_path: Path) -> None:
    marker = {"root": str(tmp_path / "store"), "key": "k"}

    def flaky(x: int) -> None:
        raise RuntimeError("try again")

    execute(_calls_spec(tmp_path, stop_on=["builtins.KeyError"], marker=marker), function=flaky)
    assert not (tmp_path / "store").exists()


def test_a_marker_that_cannot_be_written_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlopsdsl.runtime import _main

    def unreachable(marker: Any, record: Any) -> str:
        raise PermissionError("the store refused the write")

    monkeypatch.setattr(_main, "write_marker", unreachable)
    marker = {"root": str(tmp_path / "store"), "key": "k"}

    def f(x: int) -> None:
        raise KeyError("gone")

    result = execute(_calls_spec(tmp_path, stop_on=["builtins.KeyError"], marker=marker), function=f)
    assert result["error"]["retry"] is False
    assert "the never-retry marker could not be written" in result["error"]["message"]
    assert "a later attempt of this task would run the step again" in result["error"]["message"]


def test_an_unreadable_store_fails_the_attempt_before_the_step_runs(tmp_path: Path) -> None:
    """A store that cannot be read says so at once, and may work on a later attempt."""
    (tmp_path / "store").write_text("a file, not a folder")
    marker = {"root": str(tmp_path / "store"), "key": "k"}
    calls: list[int] = []
    result = execute(_calls_spec(tmp_path, marker=marker), function=calls.append)
    assert (result["error"]["phase"], result["error"]["retry"], calls) == ("retry", True, [])


def test_a_malformed_retry_section_is_a_spec_error(tmp_path: Path) -> None:
    result = execute(_calls_spec(tmp_path, stop_on="builtins.KeyError"))
    assert result["error"]["phase"] == "spec" and "retry.stop_on" in result["error"]["message"]
    result = execute(_calls_spec(tmp_path, marker={"root": "/x"}))
    assert result["error"]["phase"] == "spec" and "retry.marker.key" in result["error"]["message"]


LEAN_SOURCE = '''"""Module docstring,
over two lines."""
import re  # why re


class Holder:
    """Only a docstring."""


def hashes(text: str) -> list[str]:
    """Docstring, then code."""
    # a comment on its own line
    marker = "# not a comment"  # but this is
    return re.findall("#", text + marker)  # ∑ non-ASCII before: columns count characters


async def later() -> None:
    """Also only a docstring: ``pass`` keeps it a body."""
'''


def test_lean_sources_keep_their_code_and_line_numbers() -> None:
    from mlopsdsl.runtime.bundle import lean

    lean_text = lean(LEAN_SOURCE)
    assert '"""' not in lean_text and "why re" not in lean_text and "own line" not in lean_text
    assert '"# not a comment"' in lean_text
    assert len(lean_text.splitlines()) == len(LEAN_SOURCE.splitlines())
    for number, line in enumerate(lean_text.splitlines(), 1):
        if line.strip() and line.strip() != "pass":  # every line of code kept is where it was
            assert line in LEAN_SOURCE.splitlines()[number - 1]
    assert lean_text.count("pass") == 2  # the bodies that were only a docstring
    space: dict[str, Any] = {}
    exec(compile(lean_text, "lean.py", "exec"), space)
    assert space["hashes"]("a#b") == ["#", "#"]
    assert space["Holder"].__doc__ is None


def test_the_bundle_is_lean_and_kept_in_the_cache_checked(tmp_path: Path, monkeypatch: Any) -> None:
    import io
    import zipfile

    from mlopsdsl.runtime import bundle as bundling

    monkeypatch.setenv("MLOPSDSL_CACHE_DIR", str(tmp_path / "cache"))
    made = bundle()
    with zipfile.ZipFile(io.BytesIO(unpack(made))) as archive:
        main = archive.read("mlopsdsl/runtime/_main.py").decode()
        source = Path(bundling.__file__).with_name("_main.py").read_text()
        assert len(main) < len(source) and len(main.splitlines()) == len(source.splitlines())
    (kept,) = (tmp_path / "cache" / "bundles").glob("*.bz2")
    assert kept.read_bytes() == made and bundle() == made
    kept.write_bytes(made[:-10] + b"0123456789")  # damaged: not trusted, made again
    assert bundle() == made
    assert [p.read_bytes() for p in (tmp_path / "cache" / "bundles").glob("*.bz2")] == [made]
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    monkeypatch.setenv("MLOPSDSL_CACHE_DIR", str(tmp_path / "blocked"))
    assert bundle() == made  # a cache that cannot be written is only slower


def test_the_bundle_unpacks_to_exactly_its_files_stored_in_a_zip() -> None:
    import io
    import zipfile

    from mlopsdsl.runtime.bundle import bundle_files, lean_files

    for include_cloudpickle in (True, False):
        files = lean_files(bundle_files(include_cloudpickle))
        with zipfile.ZipFile(io.BytesIO(unpack(bundle(include_cloudpickle)))) as archive:
            assert archive.namelist() == sorted(files)  # nothing more, nothing less, in a fixed order
            for info in archive.infolist():
                assert archive.read(info) == files[info.filename], info.filename
                # stored (the whole zip is compressed at once), with no date or owner of this machine
                assert (info.compress_type, info.date_time) == (zipfile.ZIP_STORED, (1980, 1, 1, 0, 0, 0))
    assert "cloudpickle/cloudpickle.py" not in lean_files(bundle_files(False))


def test_the_bundle_fits_one_argument_or_environment_variable_with_room() -> None:
    """Its base64 text is one argv item (KFP) or one environment variable (Argo, Airflow): Linux takes at
    most 128 KiB for either. Half of that leaves room for the runtime to grow, and for what else Argo puts
    in a pod's environment."""
    import base64

    assert len(base64.b64encode(bundle())) < 64 * 1024
    assert len(unpack(bundle())) > 3 * len(bundle())  # it is compressed as a whole, not file by file


def test_the_bundle_is_the_same_bytes_in_any_process(tmp_path: Path) -> None:
    """Made afresh (each process its own empty cache) under different hash seeds: the same bytes."""
    made = []
    for seed in ("1", "2"):
        env = {"MLOPSDSL_CACHE_DIR": str(tmp_path / seed), "PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}
        probe = "import sys; from mlopsdsl.runtime.bundle import bundle; sys.stdout.buffer.write(bundle())"
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        made.append(done.stdout)
    assert made[0] == made[1] == bundle()


def test_cloudpickle_travels_lean_with_its_licence_notice() -> None:
    """cloudpickle is BSD-3: its copyright and licence text travels verbatim, on its own lines."""
    import cloudpickle  # type: ignore[import-untyped]

    from mlopsdsl.runtime.bundle import bundle_files, lean_files

    released = Path(cloudpickle.cloudpickle.__file__).read_text()
    travels = lean_files(bundle_files())["cloudpickle/cloudpickle.py"].decode()
    notice = released[released.index("Copyright") : released.index("SUCH DAMAGE.") + len("SUCH DAMAGE.")]
    assert notice.count("\n") > 20 and "Redistribution and use in source and binary forms" in notice
    assert released.index(notice) == travels.index(notice)  # same place, so on the same lines
    assert len(travels) < 0.7 * len(released)  # its other docstrings and comments do not travel
    assert len(travels.splitlines()) == len(released.splitlines())


def test_lean_sources_are_the_same_code() -> None:
    """Instruction for instruction, every module as it travels is the module as written (jumps compared by
    the instruction they land on; a docstring's ``__doc__ = ...`` and line numbers aside)."""
    import dis
    import types

    from mlopsdsl.runtime.bundle import bundle_files, lean_files

    def instructions(code: types.CodeType) -> list[tuple[str, object]]:
        kept: list[dis.Instruction] = []
        for i in dis.get_instructions(code):
            if i.opname == "STORE_NAME" and i.argval == "__doc__":
                kept.pop()  # the docstring's LOAD_CONST
            else:
                kept.append(i)
        index = {i.offset: n for n, i in enumerate(kept)}
        out: list[tuple[str, object]] = []
        for i in kept:
            value = i.argval
            if i.opcode in dis.hasjrel or i.opcode in dis.hasjabs:
                value = index[i.argval]
            elif isinstance(value, types.CodeType):
                value = value.co_qualname
            out.append((i.opname, value))
        return out

    def same(a: types.CodeType, b: types.CodeType, where: str) -> None:
        assert instructions(a) == instructions(b), where
        inner_a = [c for c in a.co_consts if isinstance(c, types.CodeType)]
        inner_b = [c for c in b.co_consts if isinstance(c, types.CodeType)]
        assert len(inner_a) == len(inner_b), where
        for x, y in zip(inner_a, inner_b, strict=True):
            same(x, y, f"{where}:{x.co_qualname}")

    files = bundle_files()
    for name, data in lean_files(files).items():
        same(compile(files[name], name, "exec"), compile(data, name, "exec"), name)


def test_a_traceback_in_a_pod_shows_the_sources_lines(tmp_path: Path) -> None:
    """In a pod (the bundle's zip only, no site-packages), every frame of the runtime and of cloudpickle
    names its file in the zip, and the line Python shows for it is the line of that number in the source."""
    import cloudpickle

    import mlopsdsl

    (tmp_path / "runtime.zip").write_bytes(unpack(bundle()))
    probe = textwrap.dedent(
        """
        import json, sys, traceback
        sys.path.insert(0, sys.argv[1])
        import cloudpickle
        from mlopsdsl.runtime import execute

        frames = []

        class Probe:
            def __reduce__(self):
                frames.extend(traceback.extract_stack())
                return (int, (1,))

        def step():
            frames.extend(traceback.extract_stack())
            cloudpickle.dumps(Probe())
            return 1

        spec = {"version": 1, "step": "s", "code": {"mode": "import", "module": "x", "qualname": "y"},
                "inputs": [], "outputs": [{"name": "output", "kind": "json"}], "returns": "single"}
        assert execute(spec, function=step)["ok"]
        print(json.dumps([(f.filename, f.lineno, f.line) for f in frames]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(tmp_path / "runtime.zip")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    roots = {
        "mlopsdsl/": Path(mlopsdsl.__file__).parent,
        "cloudpickle/": Path(cloudpickle.__file__).parent,
    }
    inside = str(tmp_path / "runtime.zip") + "/"
    seen: set[str] = set()
    for filename, number, line in json.loads(done.stdout):
        if not filename.startswith(inside):
            continue
        name = filename[len(inside) :]
        package, _, rest = name.partition("/")
        source = (roots[package + "/"] / rest).read_text().splitlines()
        assert line and line == source[number - 1].strip(), (name, number)
        seen.add(package)
    assert seen == {"mlopsdsl", "cloudpickle"}  # frames of both were checked


def test_a_python_without_bz2_is_told_what_to_do() -> None:
    from mlopsdsl.runtime.bundle import unpacker

    program = "import sys\nsys.modules['bz2'] = None\n" + unpacker("'QlpoOQ=='")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", program], capture_output=True, text=True)
    assert done.returncode == 1
    assert "mlopsdsl: this Python has no bz2 module to unpack the step runtime" in done.stderr
    assert "runtime='image'" in done.stderr
