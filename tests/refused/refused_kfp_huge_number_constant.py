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
    big = count(n=10**400)  # refused: input 'n' is 100000000000...0000 (401 characters), beyond ±(2**53 - 1): KFP holds numbers as 64-bit floats, where it has no value at all; pass it as a str (or in an Optional/Any value, which travels as JSON text)
    return add(a=small, b=big)
