import mlopsdsl as ml


@ml.step
def score(n: int) -> float:
    return n / 10


@ml.step
def name(n: int) -> str:
    return str(n)


@ml.step
def best(scores: list[float]) -> float:
    return max(scores)


@ml.pipeline
def choosing() -> float:
    return best(scores=[score(n=1), name(n=2)])  # error: element 1 of input 'scores' of step 'best' expects float, but the output of name is str
