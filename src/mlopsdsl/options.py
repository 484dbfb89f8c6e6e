"""The option types users write in ``@ml.step(...)``: resources, retries, secrets, tolerations, volumes.

They are frozen standard-library dataclasses, not pydantic models, because the user's module is imported
again inside every step's container, where each millisecond of import counts. Each checks its values when
constructed and raises :class:`~mlopsdsl.errors.DefinitionError` at the user's line. The IR embeds these
same classes (pydantic validates dataclasses), so there is one definition of each option, and a document
read back from JSON goes through the same checks.
"""

from __future__ import annotations

import dataclasses
import re
from types import MethodType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from mlopsdsl._dataclass import dataclass, init_of
from mlopsdsl._source import caller_location
from mlopsdsl.errors import DefinitionError, Location

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "NodeAffinity",
    "OptionError",
    "Pod",
    "PodAffinity",
    "Resources",
    "Retry",
    "Schedule",
    "Secret",
    "Toleration",
    "Volume",
    "parse_duration",
]

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""What an environment variable may be named: for a secret's ``env`` and a step's ``env`` alike."""
RESERVED_ENV = frozenset({
    "MLOPSDSL_ITEM",  # Argo: the pod that wrote an element of a collected map
    "MLOPSDSL_LAUNCHER",  # Argo: the launcher program every pod runs
    "MLOPSDSL_MLFLOW_PARENT",  # local runs: the MLflow run a step's run is nested under
    "MLOPSDSL_PACKAGES",  # every engine: the step's packages= to install
    "MLOPSDSL_RUNTIME",  # every engine: the runtime bundle
    "MLOPSDSL_WORK",  # Airflow: the pod's work folder
    "MLOPSDSL_XCOM",  # Airflow: where results are handed to XCom
})  # fmt: skip
"""Environment variables a backend sets in every step's process itself: a step's ``env`` or secret of the
same name would replace it, and the step would not start, or start and lose its results. The tests check
that each backend's own names are here."""
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# Nested option dataclasses reject unknown keys when the IR is read back, like the rest of the IR.
_STRICT: dict[str, Any] = {"extra": "forbid"}


def parse_duration(value: object, what: str) -> float:
    """Seconds from ``30``, ``2.5``, ``"30s"``, ``"5m"``, ``"1h30m"`` or ``"500ms"``."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        parts = _DURATION_PART.findall(text)
        if parts and "".join(a + b for a, b in parts) == text:
            seconds = sum(float(a) * _UNITS[b] for a, b in parts)
    if seconds is None:
        raise ValueError(f"{what} must be a duration such as '30s', '5m' or '1h30m', not {value!r}")
    if seconds < 0:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return seconds


def _quantity(value: object, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{what} must be a Kubernetes quantity such as '500m' or '2Gi', not {value!r}")
    text = format(value, "g") if isinstance(value, float) else str(value)
    if not _QUANTITY.match(text):
        raise ValueError(f"{what} must be a Kubernetes quantity such as '500m' or '2Gi', not {value!r}")
    return text


def _optional_str(value: object, what: str) -> None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {value!r}")


class OptionError(DefinitionError, ValueError):
    """A bad option value. Also a ValueError, so that pydantic reports it when reading IR back."""


class _Option:
    """Validation on construction, reported as a DefinitionError at the line that constructed it."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _STRICT

    def __post_init__(self) -> None:
        try:
            self._check()
        except ValueError as exc:
            raise OptionError(f"{type(self).__name__}(...): {exc}", _user_location()) from None

    def _check(self) -> None:
        raise NotImplementedError

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)


OptionT = TypeVar("OptionT", bound=_Option)


def _checked_call(cls: type[OptionT]) -> type[OptionT]:
    """Check the arguments of ``cls(...)`` before the dataclass's own ``__init__`` sees them.

    That ``__init__`` would raise a bare ``TypeError`` for a misspelled or missing argument, with no
    location. Pydantic, reading IR back, makes instances without calling ``__init__``, so this check is
    for calls written by users only.
    """
    cls.__init__ = _CheckedInit(cls)  # type: ignore[assignment,method-assign]
    return cls


class _CheckedInit:
    """An option class's ``__init__``: checks the call, then runs the dataclass's own (compiled when first
    used, :func:`mlopsdsl._dataclass.init_of`). Its signature is that one's, for ``help()`` and notebooks."""

    def __init__(self, owner: type) -> None:
        self.owner = owner
        self.__qualname__ = f"{owner.__qualname__}.__init__"

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        return self if instance is None else MethodType(self, instance)

    def __call__(self, instance: Any, *args: Any, **kwargs: Any) -> None:
        problem = _call_problem(self.owner, args, kwargs)
        if problem is not None:
            raise OptionError(f"{self.owner.__name__}(...): {problem}", _user_location())
        init_of(self.owner)(instance, *args, **kwargs)

    @property
    def __signature__(self) -> Any:
        import inspect

        return inspect.signature(init_of(self.owner))


def _user_location() -> Location | None:
    where = caller_location()
    if where is not None and ("site-packages" in where.file or "dist-packages" in where.file):
        return None  # constructed by a library (pydantic reading IR back), not at a user's line
    return where


def _call_problem(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """What is wrong with calling ``cls(*args, **kwargs)``: an unknown, doubled or missing argument."""
    from mlopsdsl._keywords import unknown_keywords

    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = [f.name for f in fields]
    unknown = unknown_keywords(kwargs, names, noun="argument")
    if unknown is not None:
        return unknown
    if len(args) > len(names):
        return f"takes at most {len(names)} arguments, but {len(args)} were given"
    for name in names[: len(args)]:
        if name in kwargs:
            return f"got argument {name!r} twice"
    given = set(names[: len(args)]) | set(kwargs)
    missing = [
        f.name
        for f in fields
        if f.name not in given
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        return f"missing required argument{plural} {', '.join(repr(m) for m in missing)}"
    return None


@_checked_call
@dataclass(frozen=True)
class Resources(_Option):
    """CPU, memory and accelerators a step asks for.

    Args:
        cpu: CPU request as a Kubernetes quantity (``"500m"``, ``2``).
        memory: Memory request (``"1Gi"``).
        gpu: Number of accelerators.
        gpu_type: The accelerator: a Kubernetes resource name (``"nvidia.com/gpu"``, the default) or a
            KFP accelerator type (``"NVIDIA_TESLA_T4"``).
        cpu_limit: CPU limit; the request when left out.
        memory_limit: Memory limit; the request when left out.
    """

    cpu: str | None = None
    memory: str | None = None
    gpu: int = 0
    gpu_type: str | None = None
    cpu_limit: str | None = None
    memory_limit: str | None = None

    def _check(self) -> None:
        for name in ("cpu", "memory", "cpu_limit", "memory_limit"):
            self._set(name, _quantity(getattr(self, name), name))
        if isinstance(self.gpu, bool) or not isinstance(self.gpu, int) or self.gpu < 0:
            raise ValueError(f"gpu must be a whole number of at least 0, not {self.gpu!r}")
        _optional_str(self.gpu_type, "gpu_type")


MAX_WAIT = 7 * 86400.0
"""The longest single wait a retry schedule may hold (seconds): longer waits are refused, well before any
engine's arithmetic overflows (Argo holds waits in nanoseconds as a signed 64-bit integer)."""

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_<>][A-Za-z0-9_<>]*)+$")


def _whole_seconds(value: float, what: str) -> float:
    if value != int(value):
        raise ValueError(
            f"{what} must be a whole number of seconds (KFP waits whole seconds), not {value:g}s"
        )
    return float(value)


def _error_name(cls: type) -> str:
    """How an exception class is named in the IR and the call spec: ``module.qualname``."""
    return f"{cls.__module__}.{cls.__qualname__}"


@_checked_call
@dataclass(frozen=True)
class Retry(_Option):
    """How often a failed step is tried again, and how long to wait between attempts.

    The schedule is the same on every backend: the wait before retry *n* (``n = 1 .. attempts - 1``) is
    ``backoff * factor ** (n - 1)`` seconds. Both numbers are whole, because Argo multiplies by a whole
    factor and KFP waits whole seconds; a fractional value is refused here rather than rounded by one
    engine and not by another. An attempt that fails with an error retrying cannot fix is not retried
    (``docs/authoring.md``, "Retries").

    Args:
        attempts: Total attempts, the first included (``attempts=3`` retries twice).
        backoff: Wait before the first retry: whole seconds or a duration (``"10s"``, ``"1m"``).
        factor: Each further wait is the previous one times this whole number.
        max_backoff: The longest wait this schedule may reach; a schedule that would wait longer is
            refused (no engine-neutral way to cap a single wait exists: KFP's ``backoffMaxDuration``
            bounds the whole retry window instead).
        stop_on: Exception classes (or their ``"module.Class"`` names) that end the step at once: an
            attempt whose function raises one of them, or a subclass, is not retried anywhere.
    """

    attempts: int = 3
    backoff: float = 0.0
    factor: float = 2.0
    max_backoff: float | None = None
    stop_on: tuple[str, ...] = ()

    if TYPE_CHECKING:  # what users may pass; the fields hold the checked, normalised values

        def __init__(
            self,
            attempts: int = 3,
            backoff: float | str = 0.0,
            factor: float = 2.0,
            max_backoff: float | str | None = None,
            stop_on: Sequence[type[Exception] | str] = (),
        ) -> None: ...

    def _check(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise ValueError(f"attempts must be a whole number of at least 1, not {self.attempts!r}")
        self._set("backoff", _whole_seconds(parse_duration(self.backoff, "backoff"), "backoff"))
        if self.max_backoff is not None:
            limit = parse_duration(self.max_backoff, "max_backoff")
            self._set("max_backoff", _whole_seconds(limit, "max_backoff"))
        if isinstance(self.factor, bool) or not isinstance(self.factor, int | float) or self.factor < 1:
            raise ValueError(f"factor must be a number of at least 1, not {self.factor!r}")
        if self.factor != int(self.factor):
            raise ValueError(
                f"factor must be a whole number (Argo multiplies waits by whole factors only), not "
                f"{self.factor!r}"
            )
        if self.factor >= 1_000_000:
            # KFP hands the factor to Argo as Go prints a float: 1e+06, which Argo cannot read.
            raise ValueError(f"factor must be below 1000000, not {self.factor!r}")
        self._set("factor", float(self.factor))
        self._set("stop_on", _error_names(self.stop_on))
        self._check_schedule()

    def _check_schedule(self) -> None:
        """The longest wait (exact integer arithmetic, so no float overflows) within the bounds."""
        if self.attempts < 2 or self.backoff == 0:
            return
        longest = int(self.backoff) * int(self.factor) ** (self.attempts - 2)
        if self.max_backoff is not None and longest > self.max_backoff:
            raise ValueError(
                f"the wait before retry {self.attempts - 1} would be {longest}s, above max_backoff="
                f"{self.max_backoff:g}s; KFP cannot cap a single wait, so lower backoff, factor or attempts "
                "(the schedule is backoff * factor ** (n - 1))"
            )
        if longest > MAX_WAIT:
            raise ValueError(
                f"the wait before retry {self.attempts - 1} would be longer than 7 days ({MAX_WAIT:g}s), "
                "the longest wait allowed; lower backoff, factor or attempts"
            )

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        return float(int(self.backoff) * int(self.factor) ** (retry - 1))

    def schedule(self) -> list[float]:
        """Every wait, in order: before retry 1, 2, ... ``attempts - 1``."""
        return [self.delay(n) for n in range(1, self.attempts)]

    def runtime_spec(self) -> dict[str, Any] | None:
        """The ``retry`` section of a call spec (``docs/runtime.md``), or ``None`` when it has nothing."""
        return {"stop_on": list(self.stop_on)} if self.stop_on else None


def _error_names(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str | type) else value
    if not isinstance(items, list | tuple):
        raise ValueError(f"stop_on must be exception classes or their 'module.Class' names, not {value!r}")
    names: list[str] = []
    for item in items:
        if isinstance(item, type) and issubclass(item, Exception):
            name = _error_name(item)
        elif isinstance(item, str) and _DOTTED.match(item):
            name = item
        else:
            raise ValueError(
                f"stop_on takes exception classes or their 'module.Class' names (builtins.ValueError), "
                f"not {item!r}"
            )
        if name not in names:
            names.append(name)
    return tuple(names)


@_checked_call
@dataclass(frozen=True)
class Secret(_Option):
    """A key of a Kubernetes secret, exposed to the step as an environment variable.

    Args:
        name: The secret's name.
        key: The key inside the secret.
        env: The environment variable; the key in upper case when left out.
    """

    name: str
    key: str
    env: str = ""

    def _check(self) -> None:
        for field in ("name", "key", "env"):
            if not isinstance(getattr(self, field), str):
                raise ValueError(f"{field} must be a string, not {getattr(self, field)!r}")
        if not self.name or not self.key:
            raise ValueError("name and key must not be empty")
        if not self.env:
            self._set("env", re.sub(r"[^A-Za-z0-9_]", "_", self.key).upper())
        if not ENV_NAME.match(self.env):
            raise ValueError(f"env {self.env!r} is not a valid environment variable name")


@_checked_call
@dataclass(frozen=True)
class Toleration(_Option):
    """A Kubernetes toleration, so that a step may run on tainted nodes."""

    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    seconds: int | None = None

    def _check(self) -> None:
        if self.operator not in ("Equal", "Exists"):
            raise ValueError(f"operator must be 'Equal' or 'Exists', not {self.operator!r}")
        if self.effect not in (None, "NoSchedule", "PreferNoSchedule", "NoExecute"):
            allowed = "'NoSchedule', 'PreferNoSchedule' or 'NoExecute'"
            raise ValueError(f"effect must be {allowed}, not {self.effect!r}")
        if self.operator == "Exists" and self.value is not None:
            raise ValueError("operator 'Exists' takes no value")
        _optional_str(self.key, "key")
        _optional_str(self.value, "value")
        if self.seconds is not None and (isinstance(self.seconds, bool) or not isinstance(self.seconds, int)):
            raise ValueError(f"seconds must be a whole number, not {self.seconds!r}")


@_checked_call
@dataclass(frozen=True)
class Volume(_Option):
    """A volume mounted into the step's container. Give exactly one source.

    Args:
        mount_path: Where it appears inside the container.
        pvc: Name of a PersistentVolumeClaim.
        config_map: Name of a ConfigMap.
        secret: Name of a Secret, mounted as files.
        empty_dir: A scratch directory that lives as long as the pod.
        read_only: Mount read-only.
    """

    mount_path: str
    pvc: str | None = None
    config_map: str | None = None
    secret: str | None = None
    empty_dir: bool = False
    read_only: bool = False

    def _check(self) -> None:
        for name in ("pvc", "config_map", "secret"):
            _optional_str(getattr(self, name), name)
        for name in ("empty_dir", "read_only"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, not {getattr(self, name)!r}")
        sources = [self.pvc, self.config_map, self.secret, True if self.empty_dir else None]
        if sum(s is not None for s in sources) != 1:
            raise ValueError("give exactly one of pvc=, config_map=, secret= or empty_dir=True")
        if not isinstance(self.mount_path, str) or not self.mount_path.startswith("/"):
            raise ValueError(f"mount_path must be an absolute path, got {self.mount_path!r}")


_AFFINITY_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def _json_hash(option: object) -> int:
    """The hash of an option holding dicts (which do not hash): that of its canonical JSON text."""
    import json

    return hash(json.dumps(dataclasses.asdict(option), sort_keys=True))  # type: ignore[call-overload]


def _weight(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise ValueError(f"weight must be a whole number from 1 to 100 (or None for a rule), not {value!r}")
    return value


def _strings(value: object, what: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
        raise ValueError(f"{what} must be a list of strings, not {value!r}")
    return tuple(items)


def _k8s_name(value: object, what: str) -> None:
    if value is not None and (not isinstance(value, str) or not _K8S_NAME.match(value) or len(value) > 253):
        raise ValueError(
            f"{what} must be a Kubernetes object name (lower case, digits, '-', '.'), not {value!r}"
        )


@_checked_call
@dataclass(frozen=True)
class NodeAffinity(_Option):
    """A rule (or, with a ``weight``, a preference) on the labels of the node a step's pod runs on.

    Rules all hold together; each preference adds its weight to the nodes it matches.

    Args:
        key: The node label.
        values: The values ``In``/``NotIn`` compare with (one number for ``Gt``/``Lt``; none for
            ``Exists``/``DoesNotExist``).
        operator: ``In`` (the default), ``NotIn``, ``Exists``, ``DoesNotExist``, ``Gt`` or ``Lt``.
        weight: ``None`` for a rule the scheduler must follow; 1 to 100 for a preference.
    """

    key: str
    values: tuple[str, ...] = ()
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] = "In"
    weight: int | None = None

    if TYPE_CHECKING:

        def __init__(
            self,
            key: str,
            values: Sequence[str] | str = (),
            operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] = "In",
            weight: int | None = None,
        ) -> None: ...

    def _check(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"key must be a node label, not {self.key!r}")
        self._set("values", _strings(self.values, "values"))
        if self.operator not in _AFFINITY_OPERATORS:
            raise ValueError(
                f"operator must be one of {', '.join(_AFFINITY_OPERATORS)}, not {self.operator!r}"
            )
        _selector_values(self.operator, self.values)
        self._set("weight", _weight(self.weight))


def _selector_values(operator: str, values: tuple[str, ...]) -> None:
    """What Kubernetes checks on a selector requirement, checked here at the user's line."""
    if operator in ("In", "NotIn") and not values:
        raise ValueError(f"operator {operator!r} needs at least one value")
    if operator in ("Exists", "DoesNotExist") and values:
        raise ValueError(f"operator {operator!r} takes no values")
    if operator in ("Gt", "Lt") and (len(values) != 1 or not values[0].lstrip("-").isdigit()):
        raise ValueError(f"operator {operator!r} takes exactly one whole number, not {list(values)!r}")


@_checked_call
@dataclass(frozen=True)
class PodAffinity(_Option):
    """Run a step's pod near (or, with ``anti=True``, away from) pods that carry some labels.

    Args:
        labels: The labels of the other pods (all must match).
        topology_key: The node label that defines "near": the same node (the default), zone, region...
        anti: Keep away from those pods instead.
        weight: ``None`` for a rule the scheduler must follow; 1 to 100 for a preference.
        namespaces: Namespaces of the other pods; the step's own when left out.
    """

    labels: dict[str, str]
    topology_key: str = "kubernetes.io/hostname"
    anti: bool = False
    weight: int | None = None
    namespaces: tuple[str, ...] = ()

    if TYPE_CHECKING:

        def __init__(
            self,
            labels: Mapping[str, str],
            topology_key: str = "kubernetes.io/hostname",
            anti: bool = False,
            weight: int | None = None,
            namespaces: Sequence[str] = (),
        ) -> None: ...

    def _check(self) -> None:
        labels = self.labels
        if (
            not isinstance(labels, dict)
            or not labels
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
        ):
            raise ValueError(f"labels must be a non-empty dict of strings, not {labels!r}")
        self._set("labels", dict(sorted(labels.items())))
        if not isinstance(self.topology_key, str) or not self.topology_key:
            raise ValueError(f"topology_key must be a node label, not {self.topology_key!r}")
        if not isinstance(self.anti, bool):
            raise ValueError(f"anti must be True or False, not {self.anti!r}")
        self._set("weight", _weight(self.weight))
        self._set("namespaces", _strings(self.namespaces, "namespaces"))

    __hash__ = _json_hash


@_checked_call
@dataclass(frozen=True)
class Pod(_Option):
    """Settings of the Kubernetes pod a step runs in; on ``@ml.pipeline(pod=...)``, defaults for every step.

    A step's own value of a setting wins over the pipeline's, setting by setting; affinity rules and pull
    secrets are added to the pipeline's. Backends that cannot express a setting say so at compile time,
    at the line that set it (``docs/kfp.md``).

    Args:
        service_account: The Kubernetes service account the pod runs as.
        image_pull_secrets: Secrets holding registry credentials for the image.
        image_pull_policy: ``Always``, ``IfNotPresent`` or ``Never``.
        affinity: Node and pod affinity (:class:`NodeAffinity`, :class:`PodAffinity`).
        run_as_user: The user id the container runs as (1000 by default, never root unless asked).
        run_as_group: The group id the container runs as (1000 by default).
        run_as_root: Allow running as root (``run_as_user=0``); off by default.
        shm_size: Size of a memory-backed ``/dev/shm`` (``"2Gi"``), for PyTorch data loaders.
        priority_class: The name of a Kubernetes ``PriorityClass``.
        patch: A partial ``PodSpec`` merged into the pod (Argo's ``podSpecPatch``), checked against the
            Kubernetes models when compiled: for what no option above covers.
    """

    service_account: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    affinity: tuple[NodeAffinity | PodAffinity, ...] = ()
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_root: bool | None = None
    shm_size: str | None = None
    priority_class: str | None = None
    patch: dict[str, Any] | None = None

    if TYPE_CHECKING:

        def __init__(
            self,
            service_account: str | None = None,
            image_pull_secrets: Sequence[str] = (),
            image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None,
            affinity: Sequence[NodeAffinity | PodAffinity] = (),
            run_as_user: int | None = None,
            run_as_group: int | None = None,
            run_as_root: bool | None = None,
            shm_size: str | int | None = None,
            priority_class: str | None = None,
            patch: Mapping[str, Any] | None = None,
        ) -> None: ...

    def _check(self) -> None:
        _k8s_name(self.service_account, "service_account")
        _k8s_name(self.priority_class, "priority_class")
        self._set("image_pull_secrets", _strings(self.image_pull_secrets, "image_pull_secrets"))
        for secret in self.image_pull_secrets:
            _k8s_name(secret, "an image pull secret")
        if self.image_pull_policy not in (None, *_PULL_POLICIES):
            raise ValueError(
                f"image_pull_policy must be one of {', '.join(_PULL_POLICIES)}, "
                f"not {self.image_pull_policy!r}"
            )
        affinity = self.affinity
        items = [affinity] if isinstance(affinity, NodeAffinity | PodAffinity) else affinity
        if not isinstance(items, list | tuple) or not all(
            isinstance(a, NodeAffinity | PodAffinity) for a in items
        ):
            raise ValueError(
                f"affinity must be a list of ml.NodeAffinity(...) and ml.PodAffinity(...), not {affinity!r}"
            )
        self._set("affinity", tuple(items))
        for name in ("run_as_user", "run_as_group"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a whole number of at least 0, not {value!r}")
        if self.run_as_root is not None and not isinstance(self.run_as_root, bool):
            raise ValueError(f"run_as_root must be True or False, not {self.run_as_root!r}")
        if self.run_as_user == 0 and self.run_as_root is not True:
            raise ValueError("run_as_user=0 is root: say so with run_as_root=True")
        self._set("shm_size", _quantity(self.shm_size, "shm_size"))
        if self.patch is not None:
            if not isinstance(self.patch, dict) or not self.patch:
                raise ValueError(f"patch must be a non-empty dict (a partial PodSpec), not {self.patch!r}")
            import json

            try:
                self._set("patch", json.loads(json.dumps(self.patch, sort_keys=True, allow_nan=False)))
            except (TypeError, ValueError):
                raise ValueError(
                    "patch must hold JSON values only (dicts, lists, strings, numbers)"
                ) from None

    __hash__ = _json_hash


_HISTORY = ("keep_succeeded", "keep_failed")


@_checked_call
@dataclass(frozen=True)
class Schedule(_Option):
    """When a published pipeline runs by itself: a cron schedule and how its runs may overlap.

    ``@ml.pipeline(schedule="0 3 * * *")`` is ``ml.Schedule("0 3 * * *")``. Each setting means the same on
    every engine; one an engine cannot honour is an error, at the pipeline's line, when the schedule is
    made there (``docs/authoring.md``, "Schedules").

    Args:
        cron: Five cron fields (``"0 3 * * *"``) or a macro (``"@daily"``).
        timezone: The IANA time zone the cron is read in (``"Europe/Paris"``); UTC when left out.
        max_concurrency: Most runs of this schedule at once; ``None`` for no limit.
        replace_running: When a run is due while one is still running, stop that one (``max_concurrency=1``
            only); otherwise the due run waits or is skipped, as the engine does.
        catch_up: Start the runs missed while the schedule was paused or the engine was down.
        enabled: ``False`` publishes the schedule paused.
        starting_deadline: How late a due run may still start (seconds or ``"5m"``).
        keep_succeeded: How many finished, succeeded runs the engine keeps.
        keep_failed: How many failed runs the engine keeps.
    """

    cron: str
    timezone: str | None = None
    max_concurrency: int | None = 1
    replace_running: bool = False
    catch_up: bool = False
    enabled: bool = True
    starting_deadline: float | None = None
    keep_succeeded: int | None = None
    keep_failed: int | None = None

    if TYPE_CHECKING:

        def __init__(
            self,
            cron: str,
            timezone: str | None = None,
            max_concurrency: int | None = 1,
            replace_running: bool = False,
            catch_up: bool = False,
            enabled: bool = True,
            starting_deadline: float | str | None = None,
            keep_succeeded: int | None = None,
            keep_failed: int | None = None,
        ) -> None: ...

    def _check(self) -> None:
        if not isinstance(self.cron, str) or not self.cron.strip():
            raise ValueError(f"cron must be a cron schedule such as '0 3 * * *', not {self.cron!r}")
        if self.timezone is not None and (not isinstance(self.timezone, str) or not self.timezone):
            raise ValueError(
                f"timezone must be an IANA time zone name such as 'Europe/Paris', not {self.timezone!r}"
            )
        limit = self.max_concurrency
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"max_concurrency must be a whole number of at least 1, or None, not {limit!r}")
        for name in ("replace_running", "catch_up", "enabled"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, not {getattr(self, name)!r}")
        if self.replace_running and limit != 1:
            raise ValueError("replace_running=True replaces the one running run: it needs max_concurrency=1")
        if self.starting_deadline is not None:
            deadline = parse_duration(self.starting_deadline, "starting_deadline")
            self._set("starting_deadline", _whole_seconds(deadline, "starting_deadline"))
        for name in _HISTORY:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a whole number of at least 0, not {value!r}")

    def changed(self) -> list[str]:
        """The settings other than ``cron`` that differ from their defaults, in declaration order."""
        return [
            f.name
            for f in dataclasses.fields(self)
            if f.name != "cron" and getattr(self, f.name) != f.default
        ]
