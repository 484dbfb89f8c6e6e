from typing import Optional

import mlopsdsl as ml


@ml.step
def maybe() -> Optional[int]:
    return None


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline
def doubling() -> int:
    return double(n=maybe())  # error: input 'n' of step 'double' expects int, but the output of maybe is int | None
