import mlopsdsl as ml


@ml.step
def add(a: int, b: int) -> int:
    return a + b


@ml.pipeline
def sums(x: int = 1) -> int:
    return add(a=x)  # error: step 'add' is missing required input 'b'
