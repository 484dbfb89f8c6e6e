# raises: DefinitionError
import mlopsdsl as ml


@ml.step(retry=ml.Retry(attempts=2, stop_on=["ValueError"]))  # error: Retry(...): stop_on takes exception classes or their 'module.Class' names (builtins.ValueError), not 'ValueError'
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
