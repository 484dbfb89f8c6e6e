# raises: DefinitionError
import mlopsdsl as ml


@ml.step(
    volumes=[
        ml.Volume(mount_path="/data", claim="shared"),  # type: ignore[call-arg]  # error: Volume(...): unknown argument 'claim'; the arguments are config_map, empty_dir, mount_path, pvc, read_only, secret
    ],
)
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
