import mlopsdsl as ml


@ml.step
def train(rows: list[float], epochs: int = 3) -> float:
    return sum(rows) * epochs


@ml.pipeline
def training() -> float:
    return train(rows=[1.0], epoch=5)  # error: step 'train' has no input 'epoch'; did you mean 'epochs'?
