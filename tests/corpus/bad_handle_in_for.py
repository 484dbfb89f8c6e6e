import mlopsdsl as ml


@ml.step
def numbers(n: int) -> list[int]:
    return list(range(n))


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline
def doubling(n: int = 3) -> None:
    for x in numbers(n=n):  # error: the output of numbers has no value while the pipeline is built, so it cannot be looped over or unpacked; use `step.map(...)` to run a step for each element when the pipeline runs
        double(n=x)
