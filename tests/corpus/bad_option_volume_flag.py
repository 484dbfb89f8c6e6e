# raises: DefinitionError
import mlopsdsl as ml


@ml.step(volumes=[ml.Volume(mount_path="/scratch", empty_dir="yes")])  # type: ignore[arg-type]  # error: Volume(...): empty_dir must be True or False, not 'yes'
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
