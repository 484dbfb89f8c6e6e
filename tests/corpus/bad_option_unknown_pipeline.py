# raises: DefinitionError
import mlopsdsl as ml


@ml.step
def refresh() -> int:
    return 1


@ml.pipeline(shedule="0 3 * * *")  # type: ignore[call-overload]  # error: @ml.pipeline(...): unknown option 'shedule'; did you mean 'schedule'?
def nightly() -> int:
    return refresh()
