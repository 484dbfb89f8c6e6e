from typing import Literal

import mlopsdsl as ml


@ml.step
def split(mode: Literal["train", "test"]) -> int:
    return 0


@ml.pipeline
def splitting() -> int:
    return split(mode="validation")  # error: input 'mode' of step 'split' must be one of 'train', 'test', got 'validation'
