# raises: DefinitionError
import mlopsdsl as ml


@ml.step(retry=ml.Retry(attempt=3))  # type: ignore[call-arg]  # error: Retry(...): unknown argument 'attempt'; did you mean 'attempts'?
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
