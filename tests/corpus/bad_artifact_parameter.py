import mlopsdsl as ml


@ml.step
def count_rows(data: ml.Dataset) -> int:
    return 0


@ml.pipeline
def counting(
    data: ml.Dataset,  # error: pipeline parameter 'data' is a Dataset; pipeline parameters must be JSON values (load files and objects in a step)
    limit: int = 10,
) -> int:
    return count_rows(data=data)
