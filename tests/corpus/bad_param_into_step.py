import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline
def doubling(n: str = "2") -> int:
    return double(n=n)  # error: input 'n' of step 'double' expects int, but pipeline parameter n is str
