# backend: kfp
import mlopsdsl as ml


@ml.step
def count(n: int) -> int:
    return n


@ml.step
def report(n: int) -> str:
    return f"{n} rows"


@ml.pipeline
def inexact_condition(n: int = 1) -> int:
    rows = count(n=n)
    with ml.when(rows == 2**53 + 1):  # refused: a condition compares with 9007199254740993, beyond ±(2**53 - 1), which KFP (its numbers are 64-bit floats) cannot hold exactly; compare in a step
        report(n=rows)
    return rows
