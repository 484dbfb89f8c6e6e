import mlopsdsl as ml


@ml.step
def shout(text: str) -> str:
    return text.upper()


@ml.pipeline
def greeting(name: str = "world") -> str:
    return shout(text=f"hello {name}")  # error: pipeline parameter name has no value while the pipeline is built, so it cannot be formatted into a string; build the string in a step
