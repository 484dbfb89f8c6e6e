import mlopsdsl as ml


@ml.step
def score(n: int) -> float:
    return n / 10


@ml.step
def best(scores: list[float]) -> float:
    return max(scores)


@ml.pipeline
def choosing() -> float:
    return best(scores={"a": score(n=1)})  # error: input 'scores' of step 'best' expects list[float], but a dict of values is passed
