"""The docs cannot drift: every example in README.md and docs/*.md is run or checked against the code.

- ```python blocks run, page by page: the blocks of one page in order, in one namespace (as cells of one
  notebook), in a temporary folder that holds a copy of ``examples/`` (as a clone does). Every pipeline
  they define must then build without a problem, and every ``test_*`` function they define is called (with
  a ``tmp_path`` when it asks for one). A block that cannot run (a fragment, a sketch of user code) says so
  where readers see it, with ``<!-- not-run: reason -->`` on the line before it; there must be few.
- A ```python block marked ``<!-- peer: kfp -->`` (or ``hera``, ``airflow``) is another tool's code, shown
  beside ours (docs/coming-from.md): it is compiled, and run in a folder of its own when that tool is
  installed (kfp and hera are, for the tests).
- ```json blocks parse. One holding ``ir_version`` is an excerpt of the IR of the pipeline its ``root``
  names (defined by the page's Python): every key it shows must have the value shown, ``"…"`` standing for
  any value. Call specs, input entries and result records are read by the runtime's own spec reader.
- ```toml and ```yaml blocks parse.
- Every ``mlopsdsl ...`` command in a block or in inline code names a command and options that exist; the
  ones that run a file of this repository on this machine (``run``, ``compile``, ``validate``, ``graph``)
  are run, and must succeed.
- docs/errors.md names every exception of ``mlopsdsl.errors`` in the same tree as that module's docstring,
  and every problem code the package reports; docs/cli.md names every command and option; docs/ir.md shows
  the IR's version and fields.

Blocks are run from a file written next to them whose line numbers are the page's, so a traceback names the
page's own line (``authoring.md.py", line 23`` is line 23 of docs/authoring.md).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

import mlopsdsl as ml
from mlopsdsl import errors, ir
from mlopsdsl.cli import app

ROOT = Path(__file__).parent.parent
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted(ROOT.glob("compilers/*/README.md")),
]
NOT_RUN = re.compile(r"^<!--\s*not-run:(.*?)-->\s*$")
PEER = re.compile(r"^<!--\s*peer:\s*(\w+)\s*-->\s*$")
PEER_MODULES = {"kfp": "kfp", "hera": "hera", "airflow": "airflow"}
MOST_NOT_RUN = 3
"""Fragments are the exception: a page that needs more should rather show complete examples."""
ANY = "…"
LOCAL_COMMANDS = ("run", "compile", "validate", "graph")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    """The line of the first line of code (1-based), in the page."""
    lang: str
    text: str
    not_run: str | None
    """The reason given by a ``<!-- not-run: reason -->`` marker; ``None`` when there is none."""
    peer: str | None = None
    """The other tool whose code the block shows (``<!-- peer: kfp -->``); ``None`` for ours."""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def read_blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a page, with the not-run marker just before each (blank lines between
    are allowed)."""
    lines = page.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = re.match(r"^(\s*)(```+|~~~+)\s*([\w+-]*)", lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, lang = opening.groups()
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        body = [line.removeprefix(indent) for line in lines[i + 1 : end]]
        before = i - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        marker = NOT_RUN.match(lines[before].strip()) if before >= 0 else None
        reason = marker.group(1).strip() if marker else None
        peer = PEER.match(lines[before].strip()) if before >= 0 else None
        text = "\n".join(body) + "\n"
        blocks.append(Block(page, i + 2, lang.lower(), text, reason, peer.group(1) if peer else None))
        i = end + 1
    return blocks


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


ALL_BLOCKS = [block for page in PAGES for block in read_blocks(page)]


# --------------------------------------------------------------------------- markers


def test_not_run_markers_are_few_and_say_why() -> None:
    marked = [b for b in ALL_BLOCKS if b.not_run is not None]
    for block in marked:
        assert block.lang == "python", f"{block.where}: not-run marks a {block.lang or 'plain'} block"
        assert len(block.not_run or "") >= 10, f"{block.where}: say why the block does not run"
    assert len(marked) <= MOST_NOT_RUN, [f"{b.where}: {b.not_run}" for b in marked]
    markers = sum(
        1 for page in PAGES for line in page.read_text().splitlines() if "not-run:" in line and "<!--" in line
    )
    assert markers == len(marked), "a not-run marker must stand right before the block it marks"


def test_not_run_marker_is_read(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n<!-- not-run: shows a mistake on purpose -->\n\n```python\nboom(\n```\n\n```python\nx = 1\n```\n"
    )
    first, second = read_blocks(page)
    assert (first.line, first.not_run, first.text) == (6, "shows a mistake on purpose", "boom(\n")
    assert (second.line, second.not_run, second.text) == (10, None, "x = 1\n")


def test_python_examples_exist() -> None:
    """A test that finds nothing proves nothing: the pages hold runnable Python."""
    runnable = [b for b in ALL_BLOCKS if b.lang == "python" and b.not_run is None]
    assert len(runnable) >= 8
    assert {b.page.name for b in runnable} >= {"README.md", "authoring.md", "backends.md", "ir.md"}


# --------------------------------------------------------------------------- running a page


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working folder like the root of a clone (``examples/`` in it), with nothing shared with others."""
    from mlopsdsl.runtime import serializers

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.delenv("MLOPSDSL_HOME", raising=False)
    monkeypatch.delenv("MLOPSDSL_ARTIFACT_ROOT", raising=False)
    monkeypatch.setattr(serializers, "_USER", list(serializers._USER))  # a page may register serialisers
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        module = sys.modules[name]
        places = [getattr(module, "__file__", None) or "", *(getattr(module, "__path__", None) or [])]
        if any(str(place).startswith(str(tmp_path)) for place in places):
            del sys.modules[name]  # the page's own modules, and the examples it imported


def python_blocks(page: Path) -> list[Block]:
    """The Python blocks of a page that run."""
    return [b for b in read_blocks(page) if b.lang == "python" and b.not_run is None and b.peer is None]


def run_page(page: Path, folder: Path) -> dict[str, Any]:
    """Run the page's Python blocks in order in one namespace; the namespace afterwards."""
    blocks = python_blocks(page)
    lines = [""] * len(page.read_text().splitlines())
    for block in blocks:
        for offset, text in enumerate(block.text.splitlines()):
            lines[block.line - 1 + offset] = text
    source = folder / f"{page.name}.py"  # line N of this file is line N of the page, for tracebacks
    source.write_text("\n".join(lines) + "\n")
    module = types.ModuleType(f"docs_{page.stem.replace('-', '_').lower()}")
    module.__file__ = str(source)
    sys.modules[module.__name__] = module
    for block in blocks:
        code = compile("\n" * (block.line - 1) + block.text, str(source), "exec")
        exec(code, module.__dict__)
    return module.__dict__


def call_tests(namespace: dict[str, Any], folder: Path) -> int:
    """Call the ``test_*`` functions a page defines, as pytest would; how many there were."""
    called = 0
    for name, fn in list(namespace.items()):
        if name.startswith("test_") and inspect.isfunction(fn):
            wanted = inspect.signature(fn).parameters
            kwargs = {"tmp_path": folder / name} if "tmp_path" in wanted else {}
            if kwargs:
                kwargs["tmp_path"].mkdir()
            fn(**kwargs)
            called += 1
    return called


@pytest.mark.parametrize(
    "page", [p for p in PAGES if any(b.lang == "python" for b in read_blocks(p))], ids=page_id
)
def test_python_examples_run(page: Path, clone: Path) -> None:
    namespace = run_page(page, clone)
    pipelines = {id(v): v for v in namespace.values() if isinstance(v, ml.Pipeline)}
    for pipeline in pipelines.values():
        problems = pipeline.problems()
        assert not problems, f"{page_id(page)}: pipeline {pipeline.name!r}: " + "; ".join(map(str, problems))
    called = call_tests(namespace, clone)
    written = sum(b.text.count("\ndef test_") + b.text.startswith("def test_") for b in python_blocks(page))
    assert called == written, "every test function a page shows is called"
    for block in read_blocks(page):
        if block.lang == "json":
            check_json(block, namespace)


# --------------------------------------------------------------------------- other tools' code

PEER_BLOCKS = [b for b in ALL_BLOCKS if b.peer is not None]


def test_peer_blocks_are_marked_python_blocks() -> None:
    assert {b.peer for b in PEER_BLOCKS} == set(PEER_MODULES), "the coming-from page shows each tool"
    for block in PEER_BLOCKS:
        assert block.lang == "python" and block.not_run is None, block.where
    markers = sum(1 for page in PAGES for line in page.read_text().splitlines() if PEER.match(line.strip()))
    assert markers == len(PEER_BLOCKS), "a peer marker must stand right before the block it marks"


@pytest.mark.parametrize("block", PEER_BLOCKS, ids=lambda b: f"{b.where}:{b.peer}")
def test_peer_blocks_compile_and_run_where_installed(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another tool's code is checked as far as this machine allows: always compiled; run (offline: these
    tools compile their pipelines without a cluster) when the tool is installed."""
    import importlib.util
    import warnings

    code = compile("\n" * (block.line - 1) + block.text, str(block.page), "exec", dont_inherit=True)
    if importlib.util.find_spec(PEER_MODULES[str(block.peer)]) is None:
        return  # compiled above; the tool is not installed here
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tool's own deprecation notices are not ours to fix
        exec(code, {"__name__": f"peer_{block.peer}"})
    assert any(tmp_path.iterdir()) or block.peer != "kfp", "the KFP block writes its pipeline package"


# --------------------------------------------------------------------------- JSON, TOML, YAML


def json_values(block: Block) -> list[Any]:
    """The JSON values of a block: one document, or several one after the other."""
    decoder = json.JSONDecoder()
    text, at, values = block.text, 0, []
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return values
        value, at = decoder.raw_decode(text, at)
        values.append(value)


def excerpt_mismatch(shown: Any, real: Any, path: str = "") -> str | None:
    """Where ``shown`` is not an excerpt of ``real``: dicts may leave keys out, lists may not leave items
    out, ``"…"`` stands for any value."""
    if shown == ANY:
        return None
    if isinstance(shown, dict):
        if not isinstance(real, dict):
            return f"{path or 'the document'}: shown an object, is {real!r}"
        for key, value in shown.items():
            if key not in real:
                return f"{path}.{key}: shown, but the real IR has no such key"
            found = excerpt_mismatch(value, real[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(shown, list):
        if not isinstance(real, list) or len(real) != len(shown):
            return f"{path}: shown {len(shown)} items, is {real!r}"
        for i, (a, b) in enumerate(zip(shown, real, strict=True)):
            found = excerpt_mismatch(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if shown == real else f"{path}: shown {shown!r}, is {real!r}"


def check_json(block: Block, namespace: dict[str, Any]) -> None:
    from mlopsdsl.runtime._spec import CallSpec, InputSpec

    for value in json_values(block):
        if not isinstance(value, dict):
            continue
        if "ir_version" in value:
            assert value["ir_version"] == ir.IR_VERSION, f"{block.where}: ir_version is {ir.IR_VERSION}"
            named = [
                v for v in namespace.values() if isinstance(v, ml.Pipeline) and v.name == value.get("root")
            ]
            assert named, f"{block.where}: the page defines no pipeline {value.get('root')!r} to compare with"
            real = json.loads(named[0].build().to_json())
            mismatch = excerpt_mismatch(value, real)
            assert mismatch is None, f"{block.where}: {mismatch}"
        elif "code" in value and "inputs" in value:
            CallSpec(value)  # raises SpecError naming the key the runtime does not accept
        elif "ok" in value:
            assert value.get("version", 1) == 1, f"{block.where}: result records are version 1"
        elif "kind" in value and "name" in value:
            InputSpec(value, "inputs")


@pytest.mark.parametrize(
    "block", [b for b in ALL_BLOCKS if b.lang in ("json", "toml", "yaml")], ids=lambda b: b.where
)
def test_data_blocks_parse(block: Block) -> None:
    if block.lang == "json":
        assert json_values(block)
    elif block.lang == "toml":
        tomllib.loads(block.text)
    else:
        yaml.safe_load(block.text)


def test_json_blocks_of_pages_without_python_are_checked() -> None:
    """Pages with Python check their JSON in test_python_examples_run; the others here."""
    for page in PAGES:
        blocks = read_blocks(page)
        if not any(b.lang == "python" for b in blocks):
            for block in blocks:
                if block.lang == "json":
                    check_json(block, {})


# --------------------------------------------------------------------------- commands


def cli_tree() -> dict[str, dict[str, Any]]:
    """Every command (``runs list`` for a group's) and its options, from the CLI itself."""
    root = typer.main.get_command(app)
    found: dict[str, dict[str, Any]] = {}

    def walk(command: Any, path: list[str]) -> None:
        context = type(command).context_class(command)
        if path:
            found[" ".join(path)] = {}
        if hasattr(command, "list_commands"):
            for name in command.list_commands(context):
                walk(command.get_command(context, name), [*path, name])
            return
        options = {}
        for param in command.params:
            if param.param_type_name == "option":
                for name in (*param.opts, *param.secondary_opts):
                    options[name] = param
        found[" ".join(path)] = options

    walk(root, [])
    return found


def commands_in(page: Path) -> list[tuple[int, str]]:
    """Every ``mlopsdsl ...`` command line of a page: in code blocks (a line, with the lines that continue
    it) and in inline code."""
    found: list[tuple[int, str]] = []
    for block in read_blocks(page):
        if block.lang == "python":
            continue
        lines = block.text.splitlines()
        for n, line in enumerate(lines):
            for part in re.split(r"&&|;|\|\|", line):
                part = part.strip().removeprefix("$ ")
                if part.startswith("mlopsdsl ") or part == "mlopsdsl":
                    command, more = part, n + 1
                    while more < len(lines) and re.match(r"^\s+[\[-]", lines[more]):
                        command += " " + lines[more].strip()
                        more += 1
                    found.append((block.line + n, command))
    for n, line in enumerate(page.read_text().splitlines(), 1):
        for span in re.findall(r"`(mlopsdsl(?: [^`]*)?)`", line):
            found.append((n, span))
    return found


def words(command: str) -> list[str]:
    command = re.sub(r"#.*$", "", command)
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def check_command(command: str, tree: dict[str, dict[str, Any]]) -> str | None:
    """What in ``command`` does not exist; ``None`` when everything it names does."""
    parts = words(command)[1:]
    if not parts or parts[0] in ("--help", "-h"):
        return None
    name = parts[0]
    if len(parts) > 1 and f"{name} {parts[1]}" in tree:
        name = f"{name} {parts[1]}"
    elif len(parts) > 1 and any(c.startswith(f"{name} ") for c in tree) and not parts[1].startswith("-"):
        return f"no command '{name} {parts[1]}' (there are {', '.join(sorted(tree))})"
    if name not in tree:
        return f"no command {name!r} (there are {', '.join(sorted(tree))})"
    options = tree[name]
    for word in parts:
        for option in re.findall(r"(?:^|[\[|])(--?[A-Za-z][\w-]*)", word):
            if option not in options and option not in ("--help", "-h"):
                return f"`mlopsdsl {name}` has no option {option} (it has {', '.join(sorted(options))})"
    return None


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_commands_in_docs_exist(page: Path) -> None:
    tree = cli_tree()
    wrong = [
        f"{page_id(page)}:{n}: {cmd}: {msg}"
        for n, cmd in commands_in(page)
        if (msg := check_command(cmd, tree))
    ]
    assert not wrong, "\n".join(wrong)


def test_commands_are_found() -> None:
    """The extraction finds the commands of the synopsis and inline ones, so a wrong name cannot hide."""
    found = {cmd for page in PAGES for _, cmd in commands_in(page)}
    assert any(c.startswith("mlopsdsl submit ") and "--run-name" in c for c in found)  # a continued line
    assert "mlopsdsl graph examples/quickstart.py" in found  # inline code
    assert check_command("mlopsdsl compile x.py --bakend kfp", cli_tree()) is not None
    assert check_command("mlopsdsl graph x.py [-x N]", cli_tree()) is not None
    assert check_command("mlopsdsl runs lst", cli_tree()) is not None


def runnable(command: str) -> list[str] | None:
    """The arguments of a command that runs a file of this repository locally; else None. Optional parts
    of a synopsis (``[--max-parallel N]``) are left out; a placeholder (``TARGET``) is not run."""
    while re.search(r"\[[^\[\]]*\]", command):
        command = re.sub(r"\[[^\[\]]*\]", "", command)
    parts = words(command)[1:]
    if len(parts) < 2 or parts[0] not in LOCAL_COMMANDS or not (ROOT / parts[1]).is_file():
        return None
    if any(re.search(r"[\[\]|]|^[A-Z_]{2,}$|\.\.\.", p) for p in parts):
        return None  # a synopsis, not a command
    return parts


RUNNABLE = sorted(
    {(page_id(page), n, cmd) for page in PAGES for n, cmd in commands_in(page) if runnable(cmd)},
)


def test_some_commands_are_runnable() -> None:
    assert len(RUNNABLE) >= 3, RUNNABLE


@pytest.mark.parametrize(("page", "line", "command"), RUNNABLE, ids=[f"{p}:{n}" for p, n, _ in RUNNABLE])
def test_runnable_commands_succeed(page: str, line: int, command: str, clone: Path) -> None:
    """In a process of its own, as a reader runs it (and so that no module another test loaded is seen)."""
    args = runnable(command)
    assert args is not None
    main = "from mlopsdsl.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", main, *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{page}:{line}: {command}\n{result.stdout}{result.stderr}"


# --------------------------------------------------------------------------- pages about the code


def exception_classes() -> dict[str, type]:
    return {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    }


def tree_of(text: str) -> dict[str, str | None]:
    """``name -> parent`` from a tree drawn with ├── and └──, as in errors.py's docstring."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        match = re.match(r"^(\s*(?:[│ ]\s*)*(?:├── |└── )?)([A-Z]\w+)\s", line + " ")
        if not match or not match.group(2).endswith("Error"):
            continue
        depth = len(match.group(1))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match.group(2)] = stack[-1][1] if stack else None
        stack.append((depth, match.group(2)))
    return parents


def test_errors_page_draws_the_tree_of_every_exception() -> None:
    page = (ROOT / "docs" / "errors.md").read_text()
    drawn = next(b.text for b in read_blocks(ROOT / "docs" / "errors.md") if "MlopsDslError" in b.text)
    classes = exception_classes()
    parents = tree_of(drawn)
    assert set(parents) == set(classes), (
        f"docs/errors.md draws {sorted(parents)}; errors.py has {sorted(classes)}"
    )
    for name, parent in parents.items():
        base = classes[name].__bases__[0]
        assert parent == (base.__name__ if base.__name__ in classes else None), (
            f"{name} is under {base.__name__}"
        )
    assert tree_of(errors.__doc__ or "") == parents, (
        "errors.py's docstring and docs/errors.md draw other trees"
    )
    for name in classes:
        assert re.search(rf"\b{name}\b", page)


def reported_codes() -> set[str]:
    """Every problem code the package reports (the first argument of each report call, or Problem's)."""
    codes: set[str] = set()
    for path in (ROOT / "src" / "mlopsdsl").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            args = node.args
            index = {"problem": 0, "report": 0, "_misuse": 0, "Gap": 0, "Problem": 1, "Finding": 1}.get(name)
            if index is None or len(args) <= index:
                continue
            arg = args[index]
            if (
                isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and re.fullmatch(r"[a-z]+(-[a-z]+)*", arg.value)
            ):
                codes.add(arg.value)
    return codes


def test_errors_page_names_every_problem_code() -> None:
    page = (ROOT / "docs" / "errors.md").read_text()
    quoted = set(re.findall(r"`([a-z]+(?:-[a-z]+)*)`", page))
    codes = reported_codes()
    assert len(codes) >= 40, "the code finder finds the codes"
    assert codes - quoted == set(), "docs/errors.md does not name these problem codes"
    slugs = {word for word in quoted if "-" in word}  # single words are also plain words (`str`)
    assert slugs - codes == set(), "docs/errors.md names problem codes that nothing reports"


def test_cli_page_names_every_command_and_option() -> None:
    page = (ROOT / "docs" / "cli.md").read_text()
    missing = []
    for command, options in cli_tree().items():
        if not re.search(rf"mlopsdsl {re.escape(command)}\b", page):
            missing.append(f"command `mlopsdsl {command}`")
        for option in options:
            if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", page):
                missing.append(f"{option} of `mlopsdsl {command}`")
    assert not missing, "docs/cli.md does not name: " + ", ".join(missing)


def test_authoring_page_names_every_option() -> None:
    """The options of @ml.step and @ml.pipeline, and the arguments of each option type, as the code has them."""
    from mlopsdsl import _pipeline, _step, options

    page = (ROOT / "docs" / "authoring.md").read_text()
    for name in (*_step.OPTIONS, *_pipeline.OPTIONS):
        assert f"`{name}" in page, f"docs/authoring.md does not name the option {name!r}"
    for cls in (getattr(options, n) for n in options.__all__ if n[0].isupper() and n != "OptionError"):
        shown = re.search(rf"ml\.{cls.__name__}\(([\w, ]+)\)", page)  # the table's `ml.Retry(attempts, ...)`
        assert shown, f"docs/authoring.md does not show ml.{cls.__name__}(...) with its arguments"
        fields = [f.name for f in dataclasses.fields(cls)]
        assert re.findall(r"\w+", shown.group(1)) == fields, f"ml.{cls.__name__} takes {', '.join(fields)}"


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def model_fields_named(text: str) -> list[str]:
    """``name, description, params[Param], on_exit`` -> the field names."""
    return [re.sub(r"[\[(].*$", "", part.strip()) for part in text.split(",") if part.strip()]


def test_ir_page_shows_the_version_and_the_fields() -> None:
    blocks = read_blocks(ROOT / "docs" / "ir.md")
    shape = next(b.text for b in blocks if b.text.startswith("Document"))
    top = re.findall(r"^[├└]── (\w+)\S*(?:[ ]+(.*))?$", shape, re.M)
    assert [name for name, _ in top] == field_names(ir.Document)
    assert dict(top)["ir_version"] == f'"{ir.IR_VERSION}"'
    for model in (ir.PipelineSpec, ir.StepSpec):
        listed = re.search(rf"{model.__name__}\s+(.*)$", shape, re.M)
        assert listed, f"docs/ir.md does not list the fields of {model.__name__}"
        assert model_fields_named(listed.group(1)) == field_names(model), model.__name__
    page = (ROOT / "docs" / "ir.md").read_text()
    for bullet in re.findall(r"^- \*\*(\w+)\*\*:?(.*?)(?=^- |^$)", page, re.M | re.S):
        model = getattr(ir, bullet[0], None)
        if isinstance(model, type) and dataclasses.is_dataclass(model):
            for field in field_names(model):
                assert re.search(rf"\b{field}\b", bullet[1]), f"docs/ir.md: {bullet[0]} does not name {field}"
    binding_kinds = {
        typing_args(typing.get_type_hints(cls)["kind"])[0] for cls in typing_args(typing_args(ir.Binding)[0])
    }
    bindings = re.search(r"\*\*Bindings\*\*(.*?)(?=^- )", page, re.M | re.S)
    assert bindings and set(re.findall(r"`(\w+)` \(", bindings.group(1))) == binding_kinds
    type_kinds = set(typing_args(typing.get_type_hints(ir.TypeSpec)["kind"]))
    types_text = re.search(r"\*\*TypeSpec\*\*(.*?)(?=^- )", page, re.M | re.S)
    assert types_text and type_kinds <= set(re.findall(r"[\w]+", types_text.group(1)))


def typing_args(tp: Any) -> tuple[Any, ...]:
    import typing

    return typing.get_args(tp)


def test_pages_link_to_pages_that_exist() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+\.(?:md|json))(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).is_file(), (
                f"{page_id(page)} links to {target}, which does not exist"
            )
