# xfail: the input whose default is bad is also reported missing at the call
import mlopsdsl as ml


@ml.step
def tag(
    name: str,
    tags: list[str] = {"raw"},  # type: ignore[assignment]  # error: step 'tag': default of 'tags' is {'raw'} (defaults must be JSON values)
) -> str:
    return name


@ml.pipeline
def tagging() -> str:
    return tag(name="data")
