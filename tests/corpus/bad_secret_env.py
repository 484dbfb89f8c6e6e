# raises: DefinitionError
import mlopsdsl as ml


@ml.step(secrets=[ml.Secret(name="creds", key="token", env="1TOKEN")])  # error: Secret(...): env '1TOKEN' is not a valid environment variable name
def fetch() -> str:
    return "data"


@ml.pipeline
def fetching() -> str:
    return fetch()
