import mlopsdsl as ml


@ml.step
def deploy(n: int) -> None:
    print(n)


@ml.pipeline
def gate(n: int = 3) -> None:
    with ml.when(True):  # error: the condition of ml.when must be a condition on step outputs or parameters (such as `score > 0.8`), not True; a condition known when the pipeline is built needs no ml.when
        deploy(n=n)
