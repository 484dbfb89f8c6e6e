# backend: kfp
import mlopsdsl as ml


@ml.step
def count(n: int) -> int:
    return n


@ml.step
def add(a: int, b: int) -> int:
    return a + b


@ml.pipeline
def huge_constant(n: int = 1) -> int:
    small = count(n=n)
    big = count(n=10**400)  # refused: an integer in this value is too large for KFP, whose numbers are 64-bit floats
    return add(a=small, b=big)
