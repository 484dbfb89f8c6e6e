# backend: kfp
import mlopsdsl as ml


@ml.step
def count(n: int) -> int:
    return n


@ml.step
def report(n: int) -> str:
    return f"{n} rows"


@ml.pipeline
def huge_condition(n: int = 1) -> int:
    rows = count(n=n)
    with ml.when(rows > 10**400):  # refused: a condition compares with an integer too large for KFP (its numbers are 64-bit floats)
        report(n=rows)
    return rows
