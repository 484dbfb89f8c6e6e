import mlopsdsl as ml


@ml.step
def prepare() -> None:
    pass


@ml.step
def train(n: int) -> float:
    return 0.9


@ml.pipeline
def training(n: int = 1) -> float:
    return train(n=n).after(prepare)  # error: .after() takes step outputs of this pipeline, got <mlopsdsl step 'prepare'>
