import mlopsdsl as ml


@ml.step(retry=3)  # type: ignore[call-overload]  # error: step 'train': option retry must be ml.Retry(...), not 3
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
