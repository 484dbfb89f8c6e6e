# raises: DefinitionError
import mlopsdsl as ml


@ml.step(retry=ml.Retry(attempts=3, backoff="1500ms"))  # error: Retry(...): backoff must be a whole number of seconds (KFP waits whole seconds), not 1.5s
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
