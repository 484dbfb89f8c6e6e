import mlopsdsl as ml


@ml.step
def score(n: int) -> float:
    return n / 10


@ml.step
def best(scores: list[float]) -> float:
    return max(scores)


@ml.pipeline
def choosing() -> float:
    return best(scores={score(n=1), score(n=2)})  # error: argument 'scores' of step 'best': a set holding step outputs cannot be passed; use a list, or a dict with str keys, or build the set in a step
