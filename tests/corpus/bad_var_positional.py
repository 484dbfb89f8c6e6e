import mlopsdsl as ml


@ml.step
def total(*values: int) -> int:  # error: step 'total': *values is not allowed; a step's inputs must be named
    return sum(values)


@ml.pipeline
def summing() -> int:
    return total(1, 2, 3)
