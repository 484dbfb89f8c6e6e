# backend: argo
# args: --kind cron
import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline  # refused: kind='cron' needs a schedule: pass schedule='0 3 * * *' (--schedule) or declare it with @ml.pipeline(schedule=...)
def nightly(n: int = 1) -> int:
    return double(n=n)
