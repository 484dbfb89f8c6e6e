import mlopsdsl as ml


@ml.step
def score(n: int) -> float:
    return n / 10


@ml.step
def best(scores: list[float]) -> float:
    return max(scores)


@ml.pipeline
def choosing() -> float:
    return best(scores=[score(n=1), score(n=2)])  # error: argument 'scores' of step 'best': a list holding step outputs cannot be passed; pass each output as its own argument, or build the list in a step
