from pydantic import BaseModel

import mlopsdsl as ml


class Metrics(BaseModel):
    accuracy: float
    loss: float


@ml.step
def evaluate() -> Metrics:
    return Metrics(accuracy=0.9, loss=0.1)


@ml.step
def report(value: float) -> str:
    return f"{value:.2f}"


@ml.pipeline
def reporting() -> str:
    return report(value=evaluate().acc)  # error: the output of evaluate of type Metrics has no field 'acc'; its fields are accuracy, loss
