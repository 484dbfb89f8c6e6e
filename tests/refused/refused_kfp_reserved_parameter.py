# backend: kfp
import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline
def reserved_parameter(
    label: str = "x",
    mlopsdsl_runtime: int = 2,  # refused: the parameter name 'mlopsdsl_runtime' is reserved by the KFP backend
) -> int:
    return double(n=mlopsdsl_runtime)
