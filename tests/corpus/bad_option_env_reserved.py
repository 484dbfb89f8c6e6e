import mlopsdsl as ml


@ml.step(env={"MLOPSDSL_RUNTIME": "mine"}, secrets=[ml.Secret(name="s", key="launcher", env="MLOPSDSL_LAUNCHER")])  # error: step 'train': env sets MLOPSDSL_RUNTIME, which mlopsdsl sets itself in every step's process; name it differently # error: step 'train': secret s.launcher sets MLOPSDSL_LAUNCHER, which mlopsdsl sets itself in every step's process; name it differently
def train() -> float:
    return 0.9


@ml.pipeline
def training() -> float:
    return train()
