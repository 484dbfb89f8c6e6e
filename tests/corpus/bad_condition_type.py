import mlopsdsl as ml


@ml.step
def rows(n: int) -> list[int]:
    return list(range(n))


@ml.step
def deploy(n: int) -> None:
    print(n)


@ml.pipeline
def gate(n: int = 3, name: str = "x") -> None:
    with ml.when(rows(n=n) == [1, 2]):  # error: list[int] == list[Any]: conditions compare single values (str, int, float, bool, None, enums); compute anything else in a step
        deploy(n=n)
    with ml.when(name > n):  # error: str > int: order comparisons take two numbers or two strings
        deploy(n=n)
