import mlopsdsl as ml


@ml.step
def score(x: float) -> float:
    return x


@ml.step
def deploy(x: float) -> str:
    return "url"


@ml.step
def announce(url: str) -> None:
    print(url)


@ml.pipeline
def gate(x: float = 0.5) -> None:
    s = score(x=x)
    with ml.when(s > 0.8):
        url = deploy(x=s)
    announce(url=url)  # error: task 'announce' uses task 'deploy', which runs only inside `ml.when(...)` (the block at line 22); use it inside that block, or pick it with ml.one_of(...) together with the other branch's output
