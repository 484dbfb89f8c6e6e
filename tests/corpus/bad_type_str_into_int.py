import mlopsdsl as ml


@ml.step
def name() -> str:
    return "seven"


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline
def doubling() -> int:
    return double(n=name())  # error: input 'n' of step 'double' expects int, but the output of name is str
