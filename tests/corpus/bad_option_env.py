import mlopsdsl as ml


@ml.step(env={"1BAD": "x"})  # error: step 'train': option env: '1BAD' is not a valid environment variable name (letters, digits and _, not starting with a digit)
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
