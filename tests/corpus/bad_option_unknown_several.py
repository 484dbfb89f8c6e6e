# raises: DefinitionError
import mlopsdsl as ml


@ml.step(  # type: ignore[call-overload]  # error: @ml.step(...): unknown options 'resource' (did you mean 'resources'?), 'timout' (did you mean 'timeout'?) and 'colour'; the options are annotations, cache, cache_ignore, cache_max_age, env, image, labels, name, node_selector, packages, pod, resources, retry, secrets, timeout, tolerations, volumes
    resource=ml.Resources(cpu="1"),
    timout="5m",
    colour="red",
)
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
