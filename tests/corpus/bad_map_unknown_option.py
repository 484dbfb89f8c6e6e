import mlopsdsl as ml


@ml.step
def square(x: int) -> int:
    return x * x


@ml.pipeline
def squares(xs: list[int] = [1, 2, 3]) -> list[int]:
    return square.map(x=xs, max_paralel=2)  # error: step 'square'.map(): unknown option 'max_paralel'; did you mean 'max_parallel'?
