import mlopsdsl as ml


@ml.step
def score(n: int) -> float:
    return n / 10


@ml.step
def best(scores: dict[str, float]) -> float:
    return max(scores.values())


@ml.pipeline
def choosing() -> float:
    return best(scores={"a": score(n=1), "b": score(n=2)})  # error: argument 'scores' of step 'best': a dict holding step outputs cannot be passed; pass each output as its own argument, or build the dict in a step
