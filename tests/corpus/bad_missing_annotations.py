import mlopsdsl as ml


@ml.step  # error: step 'scale': the return type is not annotated (write `-> None` if it returns nothing)
def scale(
    x,  # error: step 'scale': parameter 'x' has no type annotation
    factor: float,
):  # type: ignore[no-untyped-def]
    return x * factor


@ml.pipeline
def scaling() -> None:
    scale(x=1.0, factor=2.0)
