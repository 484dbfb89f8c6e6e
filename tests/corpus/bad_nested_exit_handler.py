import mlopsdsl as ml


@ml.step
def notify(status: str) -> None:
    print(status)


@ml.step
def work(n: int) -> int:
    return n


@ml.pipeline(on_exit=notify)  # error: pipeline 'inner' has an exit handler but is used as a sub-pipeline; exit handlers run when the whole pipeline ends, so only the pipeline you run or compile may have one
def inner(n: int = 1) -> int:
    return work(n=n)


@ml.pipeline
def outer(n: int = 1) -> int:
    return inner(n=n)


PIPELINE = outer
