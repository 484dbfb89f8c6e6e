import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline
def doubling(n: int = 1) -> int:
    if n == 0:  # error: pipeline parameter n has no value while the pipeline is built, so it cannot be compared in Python; use `with ml.when(...)` for a condition that is decided when the pipeline runs
        return double(n=1)
    return double(n=n)
