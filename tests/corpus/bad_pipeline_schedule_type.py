# raises: DefinitionError
import mlopsdsl as ml


@ml.step
def refresh() -> int:
    return 1


@ml.pipeline(schedule=3)  # type: ignore[call-overload]  # error: @ml.pipeline(...): schedule must be a cron string or ml.Schedule(...), not 3
def nightly() -> int:
    return refresh()
