import mlopsdsl as ml


@ml.step
def process(shard: str, lr: float) -> float:
    return lr


@ml.pipeline
def fan(shard: str = "a") -> list[float]:
    return process.map(shard=shard, lr=0.1)  # error: step 'process'.map() needs one argument that is a list of what its input takes (e.g. a list[str] for an input typed str); the other arguments are passed to every run as they are
