import mlopsdsl as ml


@ml.step
def score(n: int) -> float:
    return n / 10


@ml.step
def deploy(n: int) -> str:
    return "deployed"


@ml.pipeline
def gated(n: int = 3) -> None:
    if score(n=n) > 0.5:  # error: the output of score has no value while the pipeline is built, so it cannot be compared in Python; use `with ml.when(...)` for a condition that is decided when the pipeline runs
        deploy(n=n)
