import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline
def doubling(n: int = 1) -> int:
    if n == 0:  # error: a condition on step outputs or parameters is decided when the pipeline runs, so Python's `if`, `while`, `and`, `or` and `not` cannot use it; write `with ml.when(condition):` (and `&`, `|`, `~` to combine conditions)
        return double(n=1)
    return double(n=n)
