import mlopsdsl as ml


@ml.step
def greet(name: str) -> str:
    return f"hello {name}"


@ml.pipeline
def greeting() -> str:
    return greet(name=3)  # error: input 'name' of step 'greet' must be str, got int 3
