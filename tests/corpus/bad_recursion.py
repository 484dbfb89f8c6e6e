import mlopsdsl as ml


@ml.step
def decrement(n: int) -> int:
    return n - 1


@ml.pipeline
def countdown(n: int = 3) -> int:
    return countdown(n=decrement(n=n))  # error: pipeline 'countdown' calls itself (countdown -> countdown)
