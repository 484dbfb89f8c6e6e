# raises: DefinitionError
import mlopsdsl as ml


@ml.step(retry=ml.Retry(attempts=3, backoff="10s", factor=1.5))  # error: Retry(...): factor must be a whole number (Argo multiplies waits by whole factors only), not 1.5
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
