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
    with ml.when(rows > 10**400):  # refused: a condition compares with 100000000000...0000 (401 characters), beyond ±(2**53 - 1), which KFP (its numbers are 64-bit floats) cannot hold exactly; compare in a step
        report(n=rows)
    return rows
