# backend: argo
import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.step(env={"GREETING": "hello {{name}}"})  # refused: step 'greet': env GREETING 'hello {{name}}' contains '{{', which Argo would expand; Argo has no escape for it
def greet(n: int) -> str:
    return f"hello {n}"


@ml.pipeline
def env_braces(n: int = 1) -> str:
    return greet(n=double(n=n))
