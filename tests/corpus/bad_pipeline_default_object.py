import mlopsdsl as ml


class Settings:
    pass


@ml.step
def run(n: int) -> int:
    return n


@ml.pipeline
def running(
    n: int = 1,
    settings: Settings = Settings(),  # error: pipeline parameter 'settings' is a Settings; pipeline parameters must be JSON values or, on the pipeline that is run, an artifact (ml.Dataset, ml.Model, ml.Artifact) given by URI (load other objects in a step)
) -> int:
    return run(n=n)
