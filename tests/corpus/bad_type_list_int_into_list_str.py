import mlopsdsl as ml


@ml.step
def counts() -> list[int]:
    return [1, 2]


@ml.step
def join(words: list[str]) -> str:
    return " ".join(words)


@ml.pipeline
def joining() -> str:
    return join(words=counts())  # error: input 'words' of step 'join' expects list[str], but the output of counts is list[int]
