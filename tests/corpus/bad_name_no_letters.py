import mlopsdsl as ml


@ml.step(name="___")  # error: step '___' cannot become a Kubernetes name: it has no letters or digits
def load() -> int:
    return 1


@ml.pipeline
def loading() -> int:
    return load()
