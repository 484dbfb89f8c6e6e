"""``{{`` in any field the user writes is refused the same way: Argo would expand it and has no escape."""

from __future__ import annotations

from typing import Any

import pytest

import mlopsdsl as ml
from mlopsdsl.errors import CompileError

BRACES = "{{workflow.name}}"
STEP_FIELDS: dict[str, tuple[dict[str, Any], str]] = {
    "env": ({"env": {"A": BRACES}}, "env A"),
    "annotation": ({"annotations": {"a": BRACES}}, "kubernetes annotations a"),
    "label": ({"labels": {"team": BRACES}}, "kubernetes labels team"),
    "label key": ({"labels": {BRACES: "x"}}, "kubernetes labels key"),
    "image": ({"image": f"python:{BRACES}"}, "image"),
    "node selector": ({"node_selector": {"pool": BRACES}}, "kubernetes node_selector pool"),
    "toleration key": (
        {"tolerations": [ml.Toleration(key=BRACES, operator="Exists")]},
        "kubernetes tolerations[0] key",
    ),
    "secret name": ({"secrets": [ml.Secret(name=f"s-{BRACES}", key="k")]}, "secrets[0] name"),
    "secret key": ({"secrets": [ml.Secret(name="s", key=BRACES, env="X")]}, "secrets[0] key"),
}


def _pipeline(**options: Any) -> Any:
    @ml.step(**options)
    def braced(n: int) -> int:
        return n

    @ml.pipeline
    def p(n: int = 1) -> int:
        return braced(n=n)

    return p


@pytest.mark.parametrize("field", sorted(STEP_FIELDS))
def test_braces_in_any_step_field_are_refused_at_the_step(field: str) -> None:
    options, what = STEP_FIELDS[field]
    with pytest.raises(CompileError) as caught:
        ml.compile(_pipeline(**options), backend="argo")
    message = str(caught.value)
    assert f"step 'braced': {what} " in message and "contains '{{', which Argo would expand" in message
    assert message.startswith(f"{__file__.rsplit('/', 1)[-1]}:") or ".py:" in message.split(" ")[0]


@pytest.mark.parametrize("option", ["image", "service_account", "artifact_bucket"])
def test_braces_in_compile_options_are_refused(option: str) -> None:
    with pytest.raises(CompileError, match=f"option {option} .* contains"):
        ml.compile(_pipeline(), backend="argo", **{option: f"x{BRACES}"})


def test_string_outputs_keep_their_bytes_exactly(tmp_path: Any) -> None:
    """The emulator reads output parameters as bytes: ``\\r\\n`` and a lone ``\\r`` stay as they are."""
    from mlopsdsl.testing import run_argo

    text = "line one\r\nline two\rend\n"

    @ml.step
    def crlf() -> str:
        return text

    @ml.step
    def same(s: str) -> str:
        if s != text:  # a plain raise: pytest's rewritten assert would need pytest in the step
            raise ValueError(repr(s))
        return s

    @ml.pipeline(name="crlf")
    def crlf_pipeline() -> str:
        return same(s=crlf())

    compiled = ml.compile(crlf_pipeline, backend="argo", functions=crlf_pipeline.step_functions())
    assert run_argo(compiled, {}, workdir=tmp_path).outputs == {"output": text}
