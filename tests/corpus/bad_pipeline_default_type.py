import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline
def doubling(
    n: int = "ten",  # type: ignore[assignment]  # error: default of pipeline parameter 'n' must be int, got str 'ten'
) -> int:
    return double(n=n)
