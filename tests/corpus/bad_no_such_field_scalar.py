import mlopsdsl as ml


@ml.step
def score() -> float:
    return 0.9


@ml.step
def report(value: float) -> str:
    return f"{value:.2f}"


@ml.pipeline
def reporting() -> str:
    return report(value=score().value)  # error: the output of score of type float has no field 'value'; only dataclass and pydantic model values have fields
