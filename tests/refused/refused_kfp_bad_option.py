# backend: kfp
# args: -O code=pickle
import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline  # refused: code='pickle': choose one of 'value', 'import'
def bad_option(n: int = 1) -> int:
    return double(n=n)
