import mlopsdsl as ml


@ml.step
def name() -> str:
    return "seven"


@ml.pipeline  # error: output 'output' of pipeline 'naming' expects int, but the output of name is str
def naming() -> int:
    return name()  # type: ignore[return-value]
