import mlopsdsl as ml


@ml.step
def name() -> str:
    return "seven"


@ml.step
def add(a: int, b: int) -> int:
    return a + b


@ml.pipeline
def inner(x: int, y: int) -> int:
    return add(a=x, b=name())  # error: input 'b' of step 'add' expects int, but the output of name is str


@ml.pipeline
def outer() -> int:
    first = inner(x=1, y=2)
    return inner(x=first)  # error: pipeline 'inner' is missing required input 'y'


PIPELINE = outer
