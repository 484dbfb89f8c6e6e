import mlopsdsl as ml


@ml.step
def count(tags: list[str]) -> int:
    return len(tags)


@ml.pipeline
def counting(
    tags: list[str] = {"raw"},  # type: ignore[assignment]  # error: pipeline 'counting': default of 'tags' is a set, which is not a JSON value
) -> int:
    return count(tags=tags)
