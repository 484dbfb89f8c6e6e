import mlopsdsl as ml


@ml.step
def configure(
    name: str,
    **settings: str,  # error: step 'configure': **settings is not allowed; a step's inputs must be named
) -> str:
    return name


@ml.pipeline
def configuring() -> str:
    return configure(name="model", lr="0.1")
