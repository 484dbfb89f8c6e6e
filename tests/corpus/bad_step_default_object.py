import mlopsdsl as ml


class Tokenizer:
    pass


@ml.step
def tokenize(
    text: str,
    tokenizer: Tokenizer = Tokenizer(),  # error: step 'tokenize': Tokenizer input 'tokenizer' can only default to None
) -> str:
    return text


@ml.pipeline
def tokenizing() -> str:
    return tokenize(text="a b c")
