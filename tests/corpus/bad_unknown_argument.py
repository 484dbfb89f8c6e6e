import mlopsdsl as ml


@ml.step
def add(a: int, b: int) -> int:
    return a + b


@ml.pipeline
def sums(x: int = 1) -> int:
    return add(a=x, b=2, c=3)  # error: step 'add' has no input 'c'; its inputs are a, b
