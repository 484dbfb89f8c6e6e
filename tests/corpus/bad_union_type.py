from typing import Union

import mlopsdsl as ml


@ml.step
def parse(
    value: Union[int, str],  # error: step 'parse': parameter 'value': Union[int, str] is a union, which cannot be passed between steps; use one type, or Optional[T]
) -> int:
    return int(value)


@ml.pipeline
def parsing() -> int:
    return parse(value="3")
