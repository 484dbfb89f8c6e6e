import mlopsdsl as ml


@ml.step
def count_rows(data: ml.Dataset) -> int:
    return 0


@ml.step
def load() -> ml.Dataset:
    return ml.Dataset(path="/dev/null")


@ml.pipeline
def counting(
    data: ml.Dataset,  # error: pipeline parameter 'data' is a Dataset; pipeline parameters must be JSON values or, on the pipeline that is run, an artifact (ml.Dataset, ml.Model, ml.Artifact) given by URI (load other objects in a step)
    limit: int = 10,
) -> int:
    return count_rows(data=data)


@ml.pipeline
def outer() -> int:
    return counting(data=load())
PIPELINE = outer
