import mlopsdsl as ml


@ml.step
def score(x: float) -> float:
    return x


@ml.step
def alert(x: float) -> None:
    print(x)


@ml.pipeline
def gate(x: float = 0.5) -> None:
    s = score(x=x)
    alert(x=s)
    with ml.otherwise():  # error: ml.otherwise() must come right after a `with ml.when(...)` block at the same level
        alert(x=x)
