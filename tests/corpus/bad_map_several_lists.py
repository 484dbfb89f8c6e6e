import mlopsdsl as ml


@ml.step
def process(shard: str, tag: str) -> float:
    return 1.0


@ml.pipeline
def fan(shards: list[str] = ["a"], tags: list[str] = ["t"]) -> list[float]:
    return process.map(shard=shards, tag=tags)  # error: step 'process'.map() runs once per element of one list, but 'shard', 'tag' are all lists; combine them into one list of records in a step first
