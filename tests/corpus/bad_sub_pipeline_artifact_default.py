import mlopsdsl as ml


@ml.step
def count_rows(data: ml.Dataset) -> int:
    return 0


@ml.step
def load() -> ml.Dataset:
    return ml.Dataset(path="/dev/null")


@ml.pipeline
def counting(
    data: ml.Dataset = "s3://bucket/rows.csv",  # type: ignore[assignment]  # error: sub-pipeline parameter 'data' is a Dataset: its caller binds it to an artifact; a URI default applies only on the pipeline that is run
    limit: int = 10,
) -> int:
    return count_rows(data=data)


@ml.pipeline
def outer() -> int:
    return counting(data=load())
PIPELINE = outer
