"""Kubernetes names from Python names, shared by validation and every compiler.

Steps, tasks and pipelines are named after Python functions (``train_model``); Kubernetes objects and Argo
templates need DNS-1123 labels (``train-model``: lower-case letters, digits and ``-``, at most 63
characters, starting with a letter). Validation runs the same function the compilers use, so a name that
would break on the cluster fails where it is written. :func:`k8s_literal` is the other thing every
Kubernetes backend writes the same way: a user's text in a container's ``env`` or ``args``.
"""

from __future__ import annotations

import functools
import re

MAX_LENGTH = 63

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_INVALID = re.compile(r"[^a-z0-9]+")


def k8s_literal(text: str) -> str:
    """``text`` as written in a container's ``env`` value (or ``command``/``args``), so that Kubernetes'
    ``$(VAR)`` expansion gives it back unchanged: every ``$`` doubled (``$$`` is Kubernetes' escape)."""
    return text.replace("$", "$$")


@functools.lru_cache(maxsize=8192)
def k8s_name(name: str) -> str:
    """The DNS-1123 label for ``name``; may be empty or too long, which :func:`name_problem` reports.

    Cached: tracing, validation and every compiler ask again for the same task and step names.
    """
    text = _CAMEL.sub("-", name).lower()
    return _INVALID.sub("-", text).strip("-")


def name_problem(name: str, what: str) -> str | None:
    """Why ``name`` cannot become a Kubernetes name, or ``None`` when it can."""
    label = k8s_name(name)
    if not label:
        return f"{what} {name!r} cannot become a Kubernetes name: it has no letters or digits"
    if not label[0].isalpha():
        return f"{what} {name!r} cannot become a Kubernetes name: it must start with a letter (not {label!r})"
    if len(label) > MAX_LENGTH:
        return (
            f"{what} {name!r} cannot become a Kubernetes name: {len(label)} characters, "
            f"at most {MAX_LENGTH} allowed"
        )
    return None
