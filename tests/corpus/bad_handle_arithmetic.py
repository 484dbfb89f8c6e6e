# xfail: arithmetic on a handle raises a bare TypeError that stops the build instead of being reported
import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.pipeline
def doubling(n: int = 1) -> int:
    return double(n=n + 1)  # error: pipeline parameter n has no value while the pipeline is built, so arithmetic cannot be done on it; compute it in a step
