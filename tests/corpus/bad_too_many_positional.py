import mlopsdsl as ml


@ml.step
def add(a: int, b: int) -> int:
    return a + b


@ml.pipeline
def sums(x: int = 1) -> int:
    return add(x, 2, 3)  # error: step 'add' takes 2 arguments but 3 were given
