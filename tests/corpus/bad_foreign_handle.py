import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


LEAKED = None


@ml.pipeline
def first(n: int = 1) -> int:
    global LEAKED
    LEAKED = double(n=n)
    return LEAKED


first.build()


@ml.pipeline
def second() -> int:
    return double(n=LEAKED)  # error: argument 'n' of step 'double': the output of double belongs to another pipeline (first); pass values into a sub-pipeline as its arguments


PIPELINE = second
