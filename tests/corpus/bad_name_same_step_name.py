import mlopsdsl as ml


@ml.step(name="load")
def load_csv() -> int:
    return 1


@ml.step(name="load")  # error: two different steps are named 'load' (the other is at bad_name_same_step_name.py:4); rename one with name=
def load_json() -> int:
    return 2


@ml.step
def add(a: int, b: int) -> int:
    return a + b


@ml.pipeline
def loading() -> int:
    return add(a=load_csv(), b=load_json())
