import mlopsdsl as ml


@ml.step
def count(tags: list[str]) -> int:
    return len(tags)


@ml.pipeline
def counting(
    tags: list[str] = {"raw"},  # type: ignore[assignment]  # error: pipeline 'counting': default of 'tags' is {'raw'} (defaults must be JSON values)
) -> int:
    return count(tags=tags)
