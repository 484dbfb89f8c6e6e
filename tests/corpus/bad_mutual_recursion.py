import mlopsdsl as ml


@ml.step
def decrement(n: int) -> int:
    return n - 1


@ml.pipeline
def ping(n: int = 3) -> int:
    return pong(n=decrement(n=n))


@ml.pipeline
def pong(n: int) -> int:
    return ping(n=decrement(n=n))  # error: pipeline 'ping' calls itself (ping -> pong -> ping)


PIPELINE = ping
