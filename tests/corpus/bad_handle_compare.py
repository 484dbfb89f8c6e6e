import mlopsdsl as ml


@ml.step
def score(n: int) -> float:
    return n / 10


@ml.step
def deploy(n: int) -> str:
    return "deployed"


@ml.pipeline
def gated(n: int = 3) -> None:
    if score(n=n) > 0.5:  # error: a condition on step outputs or parameters is decided when the pipeline runs, so Python's `if`, `while`, `and`, `or` and `not` cannot use it; write `with ml.when(condition):` (and `&`, `|`, `~` to combine conditions)
        deploy(n=n)
