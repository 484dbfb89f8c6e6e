# raises: DefinitionError
import mlopsdsl as ml

RETRY = ml.Retry(attempts=5, backoff="10s", factor=2, max_backoff="1m")  # error: Retry(...): the wait before retry 4 would be 80s, above max_backoff=60s; KFP cannot cap a single wait, so lower backoff, factor or attempts (the schedule is backoff * factor ** (n - 1))


@ml.step(retry=RETRY)
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
