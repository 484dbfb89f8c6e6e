# raises: DefinitionError
import mlopsdsl as ml


@ml.step(retry=ml.Retry(attempts=0))  # error: Retry(...): attempts must be a whole number of at least 1, not 0
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
