# backend: argo
# args: --kind job
import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline  # refused: kind must be one of workflow, template, cron, not 'job'
def unknown_kind(n: int = 1) -> int:
    return double(n=n)
