import mlopsdsl as ml


@ml.step
def describe(data: ml.Dataset | None) -> str:
    return "none" if data is None else str(data.path)


@ml.step
def load() -> ml.Dataset:
    return ml.Dataset(path="/dev/null")


@ml.pipeline
def describing(
    data: ml.Dataset | None = None,  # error: sub-pipeline parameter 'data' is a Dataset | None: its caller binds it to an artifact, so it cannot be optional (only the pipeline that is run has optional artifact parameters)
) -> str:
    return describe(data=data)


@ml.pipeline
def outer() -> str:
    return describing(data=load())


PIPELINE = outer
