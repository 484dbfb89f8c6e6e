import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline
def doubling(n: int = 1) -> int:
    return double(n=n + 1)  # error: pipeline parameter n has no value while the pipeline is built, so Python operators cannot compute with it; do the computation in a step
