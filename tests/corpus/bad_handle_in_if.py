import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline
def doubling(fast: bool = False, n: int = 1) -> int:
    if fast:  # error: pipeline parameter fast has no value while the pipeline is built, so it cannot be used in an `if`, `while`, `and`/`or` or bool(); use `with ml.when(...)` for a condition that is decided when the pipeline runs
        return double(n=n)
    return double(n=double(n=n))
