import mlopsdsl as ml


@ml.step
def score(x: float) -> float:
    return x


@ml.step
def deploy(x: float) -> str:
    return "url"


@ml.pipeline
def gate(x: float = 0.5) -> str:
    s = score(x=x)
    with ml.when(s > 0.8):
        a = deploy(x=s)
        b = deploy(x=x)
    return ml.one_of(a, b)  # error: ml.one_of() takes one output made directly inside a `with ml.when(...)` block and one made directly inside the `with ml.otherwise()` block after it, so that exactly one exists
