# backend: kfp
import mlopsdsl as ml


@ml.step
def mlopsdsl_runtime(n: int) -> int:
    return n


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline
def reserved_task(n: int = 1) -> int:
    first = double(n=n)
    return mlopsdsl_runtime(n=first)  # refused: the task name 'mlopsdsl-runtime' is reserved by the KFP backend
