import mlopsdsl as ml


@ml.step  # error: step names 'train-model' and 'train_model' both become 'train-model' on Kubernetes; rename one
def train_model() -> int:
    return 1


@ml.step(name="train-model")
def train_model_again() -> int:
    return 2


@ml.pipeline
def training() -> None:
    train_model()
    train_model_again()
