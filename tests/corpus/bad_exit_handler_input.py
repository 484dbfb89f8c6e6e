import mlopsdsl as ml


@ml.step
def notify(status: str, channel: str) -> None:
    print(status, channel)


@ml.step
def work(n: int) -> int:
    return n


@ml.pipeline(on_exit=notify)  # error: exit handler 'notify': input 'channel' has no value; an exit handler's inputs are `status` (how the pipeline ended) and parameters of the pipeline, by name
def watched(n: int = 1) -> int:
    return work(n=n)
