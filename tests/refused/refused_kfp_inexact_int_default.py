# backend: kfp
import mlopsdsl as ml


@ml.step
def count(n: int) -> int:
    return n


@ml.pipeline
def inexact_default(
    n: int = 2**53 + 1,  # refused: the default of parameter 'n' is 9007199254740993, beyond ±(2**53 - 1): KFP holds numbers as 64-bit floats, where it becomes 9.0072e+15; pass it as a str (or in an Optional/Any value, which travels as JSON text)
) -> int:
    return count(n=n)
