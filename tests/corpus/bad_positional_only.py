import mlopsdsl as ml


@ml.step
def double(n: int, /) -> int:  # error: step 'double': parameter 'n' is positional-only; steps bind by name
    return 2 * n


@ml.pipeline
def doubling() -> int:
    return double(2)
