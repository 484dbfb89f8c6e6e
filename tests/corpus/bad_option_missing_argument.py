# raises: DefinitionError
import mlopsdsl as ml


@ml.step(secrets=[ml.Secret(name="creds")])  # type: ignore[call-arg]  # error: Secret(...): missing required argument 'key'
def fetch() -> str:
    return "data"


@ml.pipeline
def fetching() -> str:
    return fetch()
