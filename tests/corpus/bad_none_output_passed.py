import mlopsdsl as ml


@ml.step
def log(text: str) -> None:
    print(text)


@ml.step
def shout(text: str) -> str:
    return text.upper()


@ml.pipeline
def logging() -> str:
    return shout(text=log(text="hi"))  # error: argument 'text' of step 'shout': step 'log' returns None, so it has no output to pass
