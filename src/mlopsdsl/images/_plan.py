"""What each step needs from its image, what its image will have, and the images ``mlopsdsl build`` makes.

One rule for every image backend, applied where every compile passes (``backends.compile_document``):

* a step *needs* the installed distributions its code imports (:mod:`._needs`), pinned to the versions
  installed where the pipeline is compiled, plus everything they require (the *lock*);
* a stock ``python:3.X`` image has none of them; ``packages=`` adds those and what they require; an image
  ``mlopsdsl build`` made (``image_repo=``) has its lock; any other image is the user's, trusted to have
  what the step needs (``mlopsdsl validate`` says so in a note);
* code shipped by value loads only on the Python minor that pickled it, so a stock image of another minor
  is an error too.

Steps that need the same lock share one image; its tag is a digest of the base image, the Dockerfile, the
lock's pins and, in import mode, the user's code, so the compiler and ``mlopsdsl build`` name the same
image without talking to each other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any

from mlopsdsl._dataclass import dataclass
from mlopsdsl.images._dists import canonical, closure, distributions_for
from mlopsdsl.images._needs import imported_modules, type_modules

if TYPE_CHECKING:
    from mlopsdsl import ir

__all__ = [
    "Finding",
    "Image",
    "Needs",
    "Plan",
    "check",
    "compiling_python",
    "needs_of",
    "plan",
    "stock_python",
    "with_images",
]

_STOCK = re.compile(r"(?:docker\.io/)?(?:library/)?python(?::(?P<tag>[\w.-]+))?(?:@sha256:[0-9a-f]{64})?")
_FORMAT_NEEDS = {"pandas": ("pyarrow",)}
"""What the step runtime's serialisers use besides the type's own library: a ``pandas.DataFrame`` is
stored as parquet, which pandas writes with pyarrow (see ``mlopsdsl.runtime.serializers``)."""


def compiling_python() -> str:
    """``major.minor`` of this interpreter, the one by-value payloads are pickled by."""
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def stock_python(image: str) -> tuple[bool, str | None]:
    """Whether ``image`` is the official ``python`` image, and its ``major.minor`` when its tag says."""
    match = _STOCK.fullmatch(image)
    if match is None:
        return False, None
    minor = re.match(r"(\d+)\.(\d+)", match.group("tag") or "")
    return True, f"{minor.group(1)}.{minor.group(2)}" if minor else None


@dataclass(frozen=True)
class Finding:
    """A problem with a step's image, at the step's definition in the IR."""

    location: ir.SourceLocation | None
    code: str
    message: str


@dataclass(frozen=True)
class Needs:
    """What one step's code needs installed."""

    direct: dict[str, str]
    """Distributions its code imports, canonical name to the version installed here."""
    unknown: tuple[str, ...] = ()
    """Modules it imports that nothing installed here provides (an optional import, or a missing one)."""


def needs_of(document: ir.Document, functions: Mapping[str, Callable[..., Any]]) -> dict[str, Needs]:
    """The needs of every step of ``document`` whose function is known (by name in ``functions``, or
    importable by its ``CodeRef``)."""
    from mlopsdsl.backends import find_function

    out: dict[str, Needs] = {}
    for step in document.steps:
        fn = functions.get(step.name) or find_function(step.code)
        if fn is None:
            continue
        modules = imported_modules(fn) | type_modules(_type_names(step))
        for module, extra in _FORMAT_NEEDS.items():
            if module in modules:
                modules |= set(extra)
        direct, unknown = distributions_for(modules)
        out[step.name] = Needs(direct, tuple(unknown))
    return out


def _type_names(step: ir.StepSpec) -> list[str]:
    names: list[str] = []

    def visit(type_: ir.TypeSpec) -> None:
        if type_.name and type_.kind in ("object", "model", "dataclass", "enum"):
            names.extend(re.findall(r"[A-Za-z_][\w.]*", type_.name))
        for inner in [type_.items, *(type_.fields or {}).values()]:
            if inner is not None:
                visit(inner)

    for param in step.inputs:
        visit(param.type)
    for output in step.outputs:
        visit(output.type)
    return names


@dataclass(frozen=True)
class Image:
    """An image ``mlopsdsl build`` writes a context for, shared by the steps that need the same."""

    tag: str
    base: str
    pins: tuple[tuple[str, str], ...]
    """The lock: every distribution, canonical name and version, sorted."""
    code: tuple[tuple[str, str], ...] = ()
    """In import mode, the user's code: path in the image (under ``/app``) to the file it is copied from."""
    steps: tuple[str, ...] = ()
    missing: tuple[tuple[str, str], ...] = ()
    """Requirements that are not installed here (name, who requires it): the lock cannot pin them."""

    @property
    def dockerfile(self) -> str:
        """The Dockerfile: a wheel stage that may compile, and a final stage with no build tools."""
        from mlopsdsl.images._build import dockerfile

        return dockerfile(self)


@dataclass
class Plan:
    """The images of a pipeline, and which step runs on which."""

    images: list[Image] = field(default_factory=list)
    by_step: dict[str, str] = field(default_factory=dict)
    """Step name to image tag, for the steps that run on a built image."""


def plan(
    document: ir.Document,
    functions: Mapping[str, Callable[..., Any]],
    repo: str,
    code: str = "value",
    needs: Mapping[str, Needs] | None = None,
) -> Plan:
    """The images ``mlopsdsl build`` makes for ``document`` under ``repo`` (``REGISTRY/NAME``).

    Steps that set their own ``image=`` keep it. In value mode a step that needs nothing keeps the stock
    image; in import mode every step needs an image with the user's code.
    """
    needs = needs if needs is not None else needs_of(document, functions)
    python = compiling_python()
    base = f"python:{python}-slim"
    files = _user_code(document) if code == "import" else ()
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    missing: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for step in document.steps:
        if step.options.image is not None:
            continue
        step_needs = needs.get(step.name, Needs({}))
        if code == "import":
            # The step's module is imported in the pod, and it imports mlopsdsl (``@ml.step``): the image
            # needs mlopsdsl itself, not only the runtime bundle.
            locked = closure([*sorted(step_needs.direct), "mlopsdsl"], python, skip=frozenset())
        else:
            locked = closure(sorted(step_needs.direct), python)
        pins = tuple(sorted(locked.pins.items()))
        if not pins and code == "value":
            continue
        groups.setdefault(pins, []).append(step.name)
        missing.setdefault(pins, {}).update(locked.missing)
    result = Plan()
    for pins, steps in sorted(groups.items()):
        draft = Image(tag="", base=base, pins=pins, code=files)
        digest = hashlib.sha256(
            json.dumps(
                {"dockerfile": draft.dockerfile, "pins": pins, "code": _code_digest(files)}, sort_keys=True
            ).encode()
        ).hexdigest()
        image = Image(
            tag=f"{repo}:{digest[:20]}",
            base=base,
            pins=pins,
            code=files,
            steps=tuple(sorted(steps)),
            missing=tuple(sorted(missing[pins].items())),
        )
        result.images.append(image)
        for name in steps:
            result.by_step[name] = image.tag
    return result


def _user_code(document: ir.Document) -> tuple[tuple[str, str], ...]:
    """The files of the user's top-level modules and packages that define the steps, by path under their
    import root (``pkg/train.py``); a package is copied whole (its Python files)."""
    files: dict[str, str] = {}
    for step in document.steps:
        top = step.code.module.split(".", 1)[0]
        module = sys.modules.get(top)
        path = getattr(module, "__file__", None)
        if module is None or not path or top == "__main__":
            continue
        if os.path.basename(path) == "__init__.py":
            folder = os.path.dirname(path)
            root = os.path.dirname(folder)
            for dirpath, dirnames, filenames in os.walk(folder):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
                for name in sorted(filenames):
                    if name.endswith(".py"):
                        full = os.path.join(dirpath, name)
                        files[os.path.relpath(full, root).replace(os.sep, "/")] = full
        else:
            files[os.path.basename(path)] = path
    return tuple(sorted(files.items()))


def _code_digest(files: tuple[tuple[str, str], ...]) -> str:
    hasher = hashlib.sha256()
    for relative, path in files:
        with open(path, "rb") as handle:
            hasher.update(f"{relative}\0{os.path.getsize(path)}\0".encode())
            hasher.update(handle.read())
    return hasher.hexdigest()


def check(
    document: ir.Document,
    functions: Mapping[str, Callable[..., Any]],
    *,
    image: str | None,
    code: str,
    built: Plan | None = None,
    needs: Mapping[str, Needs] | None = None,
) -> tuple[list[Finding], list[tuple[ir.SourceLocation | None, str]]]:
    """The problems (at each step's line) of steps whose image will lack what they need, or run another
    Python minor than by-value code needs; and notes on what could not be checked.

    Args:
        document: The validated IR.
        functions: The step functions by step name.
        image: The compile option ``image`` (the image of steps that set none); ``None`` is the stock one.
        code: ``"value"`` or ``"import"``, how code ships.
        built: The images ``mlopsdsl build`` makes, when the compile references them (``image_repo``).
        needs: Precomputed :func:`needs_of`, when the caller has it.
    """
    needs = needs if needs is not None else needs_of(document, functions)
    python = compiling_python()
    default = image or f"python:{python}-slim"
    problems: list[Finding] = []
    notes: list[tuple[ir.SourceLocation | None, str]] = []
    for step in document.steps:
        where = at = step.location
        label = f"step {step.name!r}"
        chosen = step.options.image or (built.by_step.get(step.name) if built else None) or default
        step_needs = needs.get(step.name, Needs({}))
        stock, minor = stock_python(chosen)
        if built is not None and chosen == built.by_step.get(step.name):
            lost = next(dict(i.missing) for i in built.images if i.tag == chosen)
            if lost:
                text = ", ".join(f"{n} (required by {b})" for n, b in sorted(lost.items()))
                problems.append(
                    Finding(
                        at,
                        "unpinnable-distribution",
                        f"{label}: its image {chosen} cannot be locked: {text} is not installed here; "
                        "install it, so that mlopsdsl build can pin the version you run",
                    )
                )
            continue
        if not stock:
            if step_needs.direct:
                extra = f"Python {python}" if code == "value" else "your code and mlopsdsl"
                notes.append(
                    (
                        where,
                        f"{label} runs on {chosen}, which mlopsdsl cannot look into: it is trusted to have "
                        f"{_listing(step_needs.direct)} and {extra}",
                    )
                )
            continue
        if code == "import":
            notes.append(
                (
                    where,
                    f"{label} ships its code by import: its image {chosen} must hold your code and "
                    "mlopsdsl (`mlopsdsl build --code import` writes one)",
                )
            )
        if code == "value" and minor is not None and minor != python:
            problems.append(
                Finding(
                    at,
                    "python-mismatch",
                    f"{label} ships its code by value from Python {python}, but its image {chosen} runs "
                    f"Python {minor}, where that code does not load: use python:{python}-slim, compile "
                    f"with Python {minor}, or ship the code by import (code='import')",
                )
            )
        for text in _invalid(step.options.packages):
            message = f"{label}: packages= holds {text!r}, which is not a pip requirement"
            problems.append(Finding(at, "bad-package", message))
        provided = _provided(step.options.packages, minor or python)
        lacking = {n: v for n, v in step_needs.direct.items() if n not in provided}
        if lacking:
            pins = ", ".join(json.dumps(f"{n}=={v}") for n, v in sorted(lacking.items()))
            has = "packages= does not list" if step.options.packages else "does not have"
            problems.append(
                Finding(
                    at,
                    "missing-distribution",
                    f"{label} needs {_listing(lacking)}, which its image {chosen} {has}: add "
                    f"packages=[{pins}] to the step, or build an image with `mlopsdsl build` and compile "
                    "with --image-repo, or run it on an image of yours that has them (image=)",
                )
            )
        if step_needs.unknown:
            notes.append(
                (
                    where,
                    f"{label} imports {', '.join(step_needs.unknown)}, which is not installed here; "
                    "if it is not an optional import, its image must have it",
                )
            )
    return problems, notes


def _provided(packages: list[str], python: str) -> set[str]:
    """The distributions ``packages=`` puts in the image: the names it lists and what they require."""
    if not packages:
        return set()
    from packaging.requirements import InvalidRequirement, Requirement

    names: set[str] = set()
    for text in packages:
        try:
            names.add(canonical(Requirement(text).name))
        except InvalidRequirement:
            continue
    return names | set(closure(packages, python).pins)


def _invalid(packages: list[str]) -> list[str]:
    if not packages:
        return []
    from packaging.requirements import InvalidRequirement, Requirement

    bad = []
    for text in packages:
        try:
            Requirement(text)
        except InvalidRequirement:
            bad.append(text)
    return bad


def _listing(dists: Mapping[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in sorted(dists.items()))


def with_images(document: ir.Document, built: Plan) -> ir.Document:
    """``document`` with each step of ``built`` on its image, and digests computed afresh (the image is
    one of a step's options, so it is part of what a cache entry is keyed by)."""
    from mlopsdsl import ir

    steps = []
    for step in document.steps:
        tag = built.by_step.get(step.name)
        if tag is not None and step.options.image is None:
            options = dataclasses.replace(step.options, image=tag)
            step = dataclasses.replace(step, options=options)
            step = dataclasses.replace(step, digest=ir.step_digest(step))
        steps.append(step)
    return dataclasses.replace(document, steps=steps).with_digests()
