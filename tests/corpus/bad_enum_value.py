import enum

import mlopsdsl as ml


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@ml.step
def paint(color: Color) -> str:
    return color.value


@ml.pipeline
def painting() -> str:
    return paint(color="purple")  # error: input 'color' of step 'paint' must be one of 'red', 'green', got 'purple'
