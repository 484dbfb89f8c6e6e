# raises: DefinitionError
import mlopsdsl as ml


@ml.step(resources=ml.Resources(cpu="lots"))  # error: Resources(...): cpu must be a Kubernetes quantity such as '500m' or '2Gi', not 'lots'
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
