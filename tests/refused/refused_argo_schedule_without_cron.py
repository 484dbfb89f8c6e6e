# backend: argo
# args: --schedule "0 3 * * *"
import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline(  # refused: schedule applies to kind='cron' only
    name="once",
    description="runs when submitted",
)
def once(n: int = 1) -> int:
    return double(n=n)
