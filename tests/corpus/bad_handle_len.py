import mlopsdsl as ml


@ml.step
def numbers(n: int) -> list[int]:
    return list(range(n))


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline
def doubling(n: int = 3) -> int:
    return double(n=len(numbers(n=n)))  # error: the output of numbers has no value while the pipeline is built, so len() cannot be taken; compute it in a step
