from fractions import Fraction

import mlopsdsl as ml


@ml.step
def keep(cutoff: float) -> float:
    return cutoff


@ml.pipeline
def keeping(
    cutoff: float = Fraction(1, 2),  # type: ignore[assignment]  # error: pipeline 'keeping': default of 'cutoff' is Fraction(1, 2) (defaults must be JSON values)
) -> float:
    return keep(cutoff=cutoff)
