import mlopsdsl as ml


@ml.step
def tag(
    name: str,
    tags: list[str] = {"raw"},  # type: ignore[assignment]  # error: step 'tag': default of 'tags' is a set, which is not a JSON value
) -> str:
    return name


@ml.pipeline
def tagging() -> str:
    return tag(name="data")
