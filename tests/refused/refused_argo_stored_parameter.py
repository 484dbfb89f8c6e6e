# backend: argo
import mlopsdsl as ml


@ml.step
def describe(data: ml.Dataset | None) -> str:
    return "none" if data is None else str(data.path)


@ml.pipeline
def stored_parameter(
    label: str = "x",
    data: ml.Dataset | None = None,  # refused: pipeline parameter 'data' is a stored type (Dataset | None); Argo workflows take parameters by value only
) -> str:
    return describe(data=data)
