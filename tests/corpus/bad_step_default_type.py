import mlopsdsl as ml


@ml.step
def double(
    n: int = "ten",  # type: ignore[assignment]  # error: step 'double': default of 'n' must be int, got str 'ten'
) -> int:
    return 2 * n


@ml.pipeline
def doubling() -> int:
    return double()
