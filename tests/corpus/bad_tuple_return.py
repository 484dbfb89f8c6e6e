import mlopsdsl as ml


@ml.step
def split(n: int) -> tuple[int, int]:  # error: step 'split': return type: tuple[int, int]: fixed-length tuples cannot be passed; use tuple[T, ...], list[T] or a NamedTuple
    return n // 2, n - n // 2


@ml.pipeline
def splitting() -> None:
    split(n=3)
