"""Pipelines for the Airflow backend's own tests: every pod setting, a schedule, retries, a cache."""

from __future__ import annotations

from pathlib import Path

import mlopsdsl as ml


class Refused(Exception):
    pass


@ml.step(
    image="python:3.11-slim",
    packages=["tqdm==4.66.0"],
    resources=ml.Resources(cpu="500m", memory="1Gi", gpu=1, memory_limit="2Gi"),
    env={"MODE": "fast"},
    secrets=[ml.Secret("creds", "token", env="API_TOKEN")],
    node_selector={"pool": "gpu"},
    tolerations=[ml.Toleration(key="gpu", operator="Exists", effect="NoSchedule")],
    volumes=[ml.Volume("/data", pvc="shared"), ml.Volume("/scratch", empty_dir=True)],
    labels={"team": "ml"},
    annotations={"note": "trains"},
    retry=ml.Retry(attempts=4, backoff="10s", factor=3, max_backoff="2m", stop_on=[Refused]),
    timeout="5m",
)
def heavy(x: int) -> int:
    return x + 1


@ml.step
def plus(a: int, b: int = 1) -> int:
    return a + b


@ml.pipeline(schedule="0 3 * * *")
def settings(x: int = 1, label: str = "a", ratio: float | None = None, flags: list[bool] = [True]) -> int:  # noqa: B006
    """Every pod setting, on a schedule."""
    return plus(a=heavy(x=x))


@ml.step
def count(folder: str, name: str) -> int:
    log = Path(folder) / "runs.log"
    with log.open("a") as handle:
        handle.write(name + "\n")
    return len(name)


@ml.pipeline
def cached(folder: str) -> int:
    return plus(a=count(folder=folder, name="abc"), b=count(folder=folder, name="de"))


@ml.pipeline
def chain(x: int = 0) -> int:
    value = plus(a=x)
    for _ in range(4):
        value = plus(a=value)
    return value


@ml.step(
    pod=ml.Pod(
        affinity=[
            ml.NodeAffinity("gpu", ["a100"]),
            ml.NodeAffinity("zone", ["a"], weight=10),
            ml.PodAffinity({"job": "train"}, anti=True, namespaces=["ml"]),
        ],
        image_pull_policy="IfNotPresent",
        image_pull_secrets=["team"],
        shm_size="2Gi",
        run_as_user=2000,
        priority_class="high",
        patch={
            "containers": [{"name": "main", "env": [{"name": "GREETING", "value": "patched"}]}],
            "dnsPolicy": "ClusterFirst",
        },
    )
)
def loader(x: int) -> str:
    import os

    return f"{os.environ.get('GREETING', 'plain')}-{x}"


@ml.step(pod=ml.Pod(run_as_root=True, service_account="builder"))
def as_root(word: str) -> str:
    return word.upper()


@ml.pipeline(pod=ml.Pod(service_account="runner", image_pull_secrets=["regcred"]))
def pods(x: int = 1) -> str:
    """Every pod setting, on steps and as the pipeline's defaults; the patch's variable reaches the step."""
    return as_root(word=loader(x=x))


@ml.step(pod=ml.Pod(patch={"hostNetwrk": True, "containers": [{"tty": True}]}))
def misspelled(x: int) -> int:
    return x


@ml.pipeline
def bad_patch(x: int = 1) -> int:
    return misspelled(x=x)


@ml.pipeline(schedule=ml.Schedule("0 3 * * 1-5", timezone="Europe/Paris", max_concurrency=3, catch_up=True,
                                  enabled=False))  # fmt: skip
def weekdays(x: int = 1) -> int:
    return plus(a=x)


@ml.pipeline(schedule=ml.Schedule("@hourly", replace_running=True, keep_failed=2))
def replacing(x: int = 1) -> int:
    return plus(a=x)
