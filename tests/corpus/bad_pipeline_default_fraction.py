from fractions import Fraction

import mlopsdsl as ml


@ml.step
def keep(cutoff: float) -> float:
    return cutoff


@ml.pipeline
def keeping(
    cutoff: float = Fraction(1, 2),  # type: ignore[assignment]  # error: pipeline 'keeping': default of 'cutoff' is a Fraction, which is not a JSON value
) -> float:
    return keep(cutoff=cutoff)
