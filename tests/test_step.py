"""``@ml.step``: plain function outside a pipeline, options in the IR, errors at the user's line."""

from __future__ import annotations

import dataclasses
import inspect
from typing import NamedTuple

import pytest

import mlopsdsl as ml
from mlopsdsl import ir

HERE = inspect.getsourcefile(lambda: None)


@ml.step
def add(a: int, b: int = 2) -> int:
    """Add two numbers."""
    return a + b


class Split(NamedTuple):
    train: list[int]
    test: list[int]


@ml.step(
    name="split_rows",
    image="python:3.11-slim",
    packages=["scikit-learn==1.5.0"],
    resources=ml.Resources(cpu="500m", memory="1Gi", gpu=1, gpu_type="nvidia.com/gpu", memory_limit="2Gi"),
    retry=ml.Retry(attempts=3, backoff="10s", factor=3, max_backoff="1m"),
    timeout="30m",
    cache=False,
    env={"B": "2", "A": "1"},
    secrets=[ml.Secret(name="db", key="password"), ml.Secret(name="api", key="token", env="API_TOKEN")],
    node_selector={"pool": "cpu"},
    tolerations=[ml.Toleration(key="gpu", operator="Exists", effect="NoSchedule")],
    volumes=[ml.Volume(mount_path="/data", pvc="shared"), ml.Volume(mount_path="/tmp/x", empty_dir=True)],
    labels={"team": "ml"},
    annotations={"note": "x"},
)
def split(rows: list[int], ratio: float = 0.5) -> Split:
    cut = int(len(rows) * ratio)
    return Split(rows[:cut], rows[cut:])


def test_outside_a_pipeline_a_step_is_its_function() -> None:
    assert add(1) == 3
    assert add(1, b=5) == 6
    assert split([1, 2, 3, 4]) == Split([1, 2], [3, 4])
    assert add.__doc__ == "Add two numbers."
    assert add.__name__ == "add"


def test_every_option_lands_in_the_ir() -> None:
    spec, problems, _ = split.spec()
    assert problems == []
    options = spec.options
    assert spec.name == "split_rows"
    assert options.image == "python:3.11-slim"
    assert options.packages == ["scikit-learn==1.5.0"]
    assert options.resources == ir.Resources(
        cpu="500m", memory="1Gi", gpu=1, gpu_type="nvidia.com/gpu", memory_limit="2Gi"
    )
    assert options.retry == ir.Retry(attempts=3, backoff=10.0, factor=3.0, max_backoff=60.0)
    assert options.retry.schedule() == [10.0, 30.0]
    assert options.timeout == 1800.0
    assert options.cache is False
    assert list(options.env.items()) == [("A", "1"), ("B", "2")]
    assert [(s.name, s.key, s.env) for s in options.secrets] == [
        ("db", "password", "PASSWORD"),
        ("api", "token", "API_TOKEN"),
    ]
    k8s = options.kubernetes
    assert k8s.node_selector == {"pool": "cpu"}
    assert k8s.tolerations == [ir.Toleration(key="gpu", operator="Exists", effect="NoSchedule")]
    assert k8s.volumes[0].pvc == "shared" and k8s.volumes[1].empty_dir
    assert k8s.labels == {"team": "ml"} and k8s.annotations == {"note": "x"}


def test_interface_in_the_ir() -> None:
    spec, _, _ = split.spec()
    assert [(p.name, p.type.kind, p.optional, p.default) for p in spec.inputs] == [
        ("rows", "list", False, None),
        ("ratio", "float", True, 0.5),
    ]
    assert [(o.name, str(o.type)) for o in spec.outputs] == [("train", "list[int]"), ("test", "list[int]")]
    assert spec.returns == ir.ReturnShape(kind="fields", type=f"{__name__}.Split")
    assert spec.code.module == __name__ and spec.code.qualname == "split"
    assert spec.location is not None and spec.location.line == inspect.getsourcelines(split.fn)[1]
    add_spec, _, _ = add.spec()
    assert add_spec.outputs == [ir.Output(name="output", type=ir.TypeSpec(kind="int"))]
    assert add_spec.description == "Add two numbers."
    assert len(add_spec.digest) == 64


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ml.Retry(attempts=0), "Retry(...): attempts must be a whole number of at least 1, not 0"),
        (
            lambda: ml.Retry(backoff="soon"),
            "Retry(...): backoff must be a duration such as '30s', '5m' or '1h30m', not 'soon'",
        ),
        (lambda: ml.Retry(factor=0.5), "Retry(...): factor must be a number of at least 1, not 0.5"),
        (
            lambda: ml.Resources(cpu="lots"),
            "Resources(...): cpu must be a Kubernetes quantity such as '500m' or '2Gi', not 'lots'",
        ),
        (lambda: ml.Resources(gpu=-1), "Resources(...): gpu must be a whole number of at least 0, not -1"),
        (
            lambda: ml.Secret(name="s", key="k", env="1BAD"),
            "Secret(...): env '1BAD' is not a valid environment variable name",
        ),
        (
            lambda: ml.Volume(mount_path="/x"),
            "Volume(...): give exactly one of pvc=, config_map=, secret= or empty_dir=True",
        ),
        (
            lambda: ml.Volume(mount_path="rel", pvc="p"),
            "Volume(...): mount_path must be an absolute path, got 'rel'",
        ),
        (
            lambda: ml.Toleration(operator="Maybe"),
            "Toleration(...): operator must be 'Equal' or 'Exists', not 'Maybe'",
        ),
        (
            lambda: ml.Toleration(operator="Exists", value="x"),
            "Toleration(...): operator 'Exists' takes no value",
        ),
    ],
)
def test_bad_options_fail_at_the_users_line(make: object, message: str) -> None:
    with pytest.raises(ml.DefinitionError) as info:
        make()  # type: ignore[operator]
    assert info.value.message == message
    assert info.value.location is not None
    assert info.value.location.file.endswith("test_step.py")
    assert info.value.location.line == make.__code__.co_firstlineno  # type: ignore[attr-defined]


def test_decorator_problems_are_reported_by_the_build_not_the_import() -> None:
    @ml.step(timeout="soon", env={"A": 1})  # type: ignore[dict-item]
    def bad(x, *rest: int) -> None:  # type: ignore[no-untyped-def]
        pass

    line = inspect.getsourcelines(bad.fn)[1]
    _, problems, _ = bad.spec()
    found = {(p.location.line if p.location else 0, p.message) for p in problems}
    assert found == {
        (line, "step 'bad': timeout must be a duration such as '30s', '5m' or '1h30m', not 'soon'"),
        (line, "step 'bad': option env.A: Input should be a valid string, not 1"),
        (line + 1, "step 'bad': parameter 'x' has no type annotation"),
        (line + 1, "step 'bad': *rest is not allowed; a step's inputs must be named"),
    }


def test_code_digest_follows_helpers(user_module) -> None:  # type: ignore[no-untyped-def]
    source = """
        import mlopsdsl as ml

        FACTOR = {factor}

        def helper(x):
            return x * FACTOR + {offset}

        @ml.step
        def work(x: int) -> int:
            return helper(x)

        @ml.step
        def unrelated(x: int) -> int:
            return x
    """

    def digest(module, name: str = "work") -> str:  # type: ignore[no-untyped-def]
        return getattr(module, name).spec()[0].code.digest  # type: ignore[no-any-return]

    # The same module edited between runs, as a user would; the digest is taken before the next edit.
    versions = [(2, 0), (2, 1), (3, 0), (2, 0)]
    digests = []
    for factor, offset in versions:
        module = user_module(source.format(factor=factor, offset=offset), "digest")
        digests.append((digest(module), digest(module, "unrelated")))
    (base, base_unrelated), (helper_changed, u1), (constant_changed, u2), (again, u3) = digests

    assert base != helper_changed
    assert base != constant_changed
    assert base_unrelated == u1 == u2 == u3
    assert again == base


def test_code_digest_ignores_moving_the_function(user_module) -> None:  # type: ignore[no-untyped-def]
    body = "import mlopsdsl as ml\n{pad}\n@ml.step\ndef work(x: int) -> int:\n    return x + 1\n"
    first = user_module(body.format(pad=""), "moved")
    digest = first.work.spec()[0].code.digest
    second = user_module(body.format(pad="\n\n\n# moved down\n"), "moved")
    assert second.work.spec()[0].code.digest == digest


@dataclasses.dataclass
class Metrics:
    accuracy: float
    loss: float


@ml.step
def evaluate(x: int) -> Metrics:
    return Metrics(accuracy=x / 10, loss=1 - x / 10)


@ml.step
def report(accuracy: float) -> str:
    return f"{accuracy:.2f}"


def test_fields_of_a_dataclass_output_bind_with_a_path() -> None:
    @ml.pipeline
    def scored(x: int = 5) -> str:
        return report(accuracy=evaluate(x=x).accuracy)

    doc = scored.build()
    binding = doc.pipeline.task("report").inputs["accuracy"]
    assert binding == ir.TaskOutputBinding(task="evaluate", output="output", path=["accuracy"])
    assert scored(x=5) == "0.50"


def test_one_step_used_many_times_is_one_spec() -> None:
    @ml.pipeline
    def chain(x: int = 0) -> int:
        for _ in range(5):
            x = add(a=x)
        return x

    doc = chain.build()
    assert [s.name for s in doc.steps] == ["add"]
    assert [t.id for t in doc.pipeline.tasks] == ["add", "add-2", "add-3", "add-4", "add-5"]
    assert chain(x=0) == 10


def test_step_wrapping_a_step_keeps_the_function() -> None:
    again = ml.step(name="add_again")(add)
    assert again.fn is add.fn and again.name == "add_again"


def test_decorating_a_non_callable_is_a_definition_error() -> None:
    with pytest.raises(ml.DefinitionError, match=r"@ml\.step decorates functions"):
        ml.step(3)  # type: ignore[call-overload]
