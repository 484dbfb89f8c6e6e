# raises: DefinitionError
import mlopsdsl as ml


@ml.step(name=3)  # type: ignore[call-overload]  # error: @ml.step(...): name must be a string, not 3
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
