# raises: DefinitionError
import mlopsdsl as ml


@ml.step(retries=3)  # type: ignore[call-overload]  # error: @ml.step(...): unknown option 'retries'; did you mean 'retry'?
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
