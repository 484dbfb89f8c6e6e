"""Functions whose signatures take the shapes a signature can take, for ``test_source_lines.py``."""

# fmt: off
# (the line breaks inside these signatures are what is tested)

from collections.abc import Callable
from typing import Any


def deco(f: Callable[..., Any]) -> Callable[..., Any]:
    return f


def deco_with(**settings: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return deco


class K:
    @staticmethod
    def f(a: int,
          b: str = "x",  # c
          *, c: int = 1) -> int: return 1

    async def g(self, x: int) -> None:
        pass

    @deco
    @deco_with(
        maxsize=3,
    )
    def h(self, y: "list[int]",
          z: tuple[int, int] = (1,
             2)) -> (
        int
    ):
        """doc"""
        return 1


def one(x): return x  # type: ignore[no-untyped-def]


def two(a: int, /, b: int, *args: int, k: int = 3, **kw: int) -> None:
    pass
# fmt: on
