import mlopsdsl as ml


@ml.step(timeout="soon")  # error: step 'train': timeout must be a duration such as '30s', '5m' or '1h30m', not 'soon'
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
