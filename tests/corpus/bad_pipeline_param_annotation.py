import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline
def doubling(
    n,  # error: pipeline 'doubling': parameter 'n' has no type annotation
) -> int:  # type: ignore[no-untyped-def]
    return double(n=n)
