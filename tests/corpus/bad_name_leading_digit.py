import mlopsdsl as ml


@ml.step(name="2nd_stage")  # error: step '2nd_stage' cannot become a Kubernetes name: it must start with a letter (not '2nd-stage')
def second_stage() -> int:
    return 1


@ml.pipeline
def staging() -> int:
    return second_stage()
