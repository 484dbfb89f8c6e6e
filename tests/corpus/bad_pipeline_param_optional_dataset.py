import mlopsdsl as ml


@ml.step
def describe(data: ml.Dataset | None) -> str:
    return "none" if data is None else str(data.path)


@ml.pipeline
def stored_parameter(
    label: str = "x",
    data: ml.Dataset | None = None,  # error: pipeline parameter 'data' is a Dataset | None; pipeline parameters must be JSON values or, on the pipeline that is run, an artifact (ml.Dataset, ml.Model, ml.Artifact) given by URI (load other objects in a step)
) -> str:
    return describe(data=data)
