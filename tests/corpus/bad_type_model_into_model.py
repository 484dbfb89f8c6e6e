from pydantic import BaseModel

import mlopsdsl as ml


class Metrics(BaseModel):
    accuracy: float


class Config(BaseModel):
    lr: float


@ml.step
def evaluate() -> Metrics:
    return Metrics(accuracy=0.9)


@ml.step
def train(config: Config) -> float:
    return config.lr


@ml.pipeline
def training() -> float:
    return train(config=evaluate())  # error: input 'config' of step 'train' expects Config, but the output of evaluate is Metrics
