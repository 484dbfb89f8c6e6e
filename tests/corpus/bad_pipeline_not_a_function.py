# raises: DefinitionError
import mlopsdsl as ml


@ml.step
def refresh() -> int:
    return 1


@ml.pipeline("nightly")  # type: ignore[call-overload]  # error: @ml.pipeline decorates functions, not 'nightly' (to name the pipeline, write @ml.pipeline(name='nightly'))
def nightly() -> int:
    return refresh()
