"""Names of Argo objects, templates and tasks: valid DNS-1123 labels, unique after sanitising.

Everything is named with :func:`mlopsdsl.naming.k8s_name`, the function validation uses, so a name that
passed validation never changes meaning here. Where two different things sanitise to the same label (a
step and a sub-pipeline both called ``train``, or two variants of one step), later ones get ``-2``,
``-3``... in a fixed order, so the same IR always gives the same names.
"""

from __future__ import annotations

import hashlib

from mlopsdsl.naming import MAX_LENGTH, k8s_name

__all__ = ["CRON_NAME_LENGTH", "GENERATE_NAME_LENGTH", "Names", "object_name"]

CRON_NAME_LENGTH = 52
"""CronWorkflow names are at most 52 characters: the controller appends a timestamp to each run's name."""
GENERATE_NAME_LENGTH = MAX_LENGTH - 6
"""A ``generateName`` prefix, with its ``-`` and the five random characters, stays within 63."""


def _fit(label: str, limit: int) -> str:
    """``label`` cut to ``limit`` characters, keeping it unique with a short hash when it had to be cut."""
    if len(label) <= limit:
        return label
    digest = hashlib.sha256(label.encode()).hexdigest()[:6]
    return f"{label[: limit - 7].rstrip('-')}-{digest}"


def object_name(name: str, limit: int = MAX_LENGTH) -> str:
    """The Kubernetes object name for a pipeline called ``name``."""
    return _fit(k8s_name(name) or "pipeline", limit)


class Names:
    """Hands out unique labels within one scope (a workflow's templates, or one DAG's tasks)."""

    def __init__(self, reserved: tuple[str, ...] = ()) -> None:
        self._taken: set[str] = set(reserved)

    def claim(self, name: str) -> str:
        """A label for ``name`` that no earlier claim in this scope got."""
        base = _fit(k8s_name(name) or "x", MAX_LENGTH)
        label, n = base, 1
        while label in self._taken:
            n += 1
            suffix = f"-{n}"
            label = _fit(base, MAX_LENGTH - len(suffix)) + suffix
        self._taken.add(label)
        return label
