"""By-value payloads: the same code pickles to the same bytes in any process, and loads where the user's
module does not exist, behaving as it did where it was pickled.

Each source of difference that ``mlopsdsl.runtime._pickler`` lists has a case here: the kitchen-sink
module below is pickled in fresh interpreters with different hash seeds, working directories and
histories (a process that used the classes first: pickled an instance, set an attribute, built a JSON
schema), and the payload is loaded and called in a bare process that cannot import the module.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from mlopsdsl.runtime._code import load_payload
from mlopsdsl.runtime.payload import pickle_function

SINK = '''
from __future__ import annotations

import abc
import dataclasses
import enum
from typing import Annotated, ClassVar, Generic, Literal, NamedTuple, Optional, TypeVar

import pydantic

T = TypeVar("T")
LABELS = {"alpha", "bravo", "charlie", "delta", "echo"}
BY_LABEL = {"alpha": 1, "bravo": 2}


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"
    GREEN = "green"


class Node(pydantic.BaseModel):
    """Recursive, with a forward reference to a model defined below it."""

    name: str
    children: list[Node] = []
    partner: Optional[Other] = None


class Other(pydantic.BaseModel):
    node: Optional[Node] = None
    colours: frozenset[Colour] = frozenset({Colour.RED, Colour.BLUE, Colour.GREEN})


Node.model_rebuild()


class Box(pydantic.BaseModel, Generic[T]):
    item: T


class Config(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    kinds: ClassVar[set[str]] = {"linear", "tree", "forest"}
    x: Annotated[int, pydantic.Field(gt=0)] = 1
    kind: Literal["a", "b"] = "a"
    colour: Colour = Colour.RED
    source: dict[str, str] = {"ref": "release:20240101"}  # looks like a schema ref; it is the user's value

    @pydantic.field_validator("x")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError("x must be odd")
        return value

    @pydantic.computed_field  # type: ignore[prop-decorator]
    @property
    def double(self) -> int:
        return self.x * 2


@pydantic.dataclasses.dataclass
class Checked:
    a: int
    colour: Colour = Colour.BLUE


@dataclasses.dataclass
class Row:
    """String annotations (the __future__ import): the payload carries the types of an input's fields."""

    label: str
    colour: Colour


class Pair(NamedTuple):
    """Its generated methods come from the loading Python's collections; these members are the user's."""

    low: int
    high: int = 9

    def width(self) -> int:
        return self.high - self.low


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a: int, b: int) -> None:
        self.a, self.b = a, b


class Shape(abc.ABC):
    @abc.abstractmethod
    def area(self) -> float: ...


class Square:
    pass


class Circle:
    pass


Shape.register(Square)
Shape.register(Circle)

DEFAULT = Config(x=3, kind="b")
ADAPTER = pydantic.TypeAdapter(dict[str, list[Config]])
SHARED = {"one", "two", "three"}
TAGS = {Colour.RED: {"r", "rr", "rrr"}, Colour.BLUE: frozenset({"b", "bb"})}
SLOT = Slotted(1, 2)


def first_make(n: int):
    return pydantic.create_model("Made", value=(int, n))


def second_make():
    return pydantic.create_model("Made", label=(str, "x"))


Made1, Made2 = first_make(1), second_make()


def count_shared() -> int:
    return len(SHARED)


def step(node: Node, config: Config, row: Row, n: int) -> dict:
    rebuilt = dataclasses.fields(Row)[1].type
    picked = [x for x in sorted(SHARED) if x in {"one", "two", "four", "five", "six"}]
    again = Node.model_validate(node.model_dump()).model_dump(mode="json")
    again["partner"]["colours"] = sorted(again["partner"]["colours"])
    return {
        "node": again,
        "config": config.model_dump(),
        "bad_config": _fails(lambda: Config(x=2)),
        "extra_forbidden": _fails(lambda: Config(y=1)),
        "box": Box[int](item=n).item,
        "checked": Checked(a="5").a,
        "row_colour_type": rebuilt.__name__,
        "row": [row.label, row.colour.value],
        "pair": [Pair(1)._asdict(), repr(Pair(1, 2)._replace(high=5)), Pair(2).width(), Pair.__doc__[:9]],
        "default": DEFAULT.model_dump(),
        "adapter": ADAPTER.validate_python({"k": [{"x": 5}]})["k"][0].double,
        "labels": sorted(LABELS),
        "by_label": BY_LABEL,
        "picked": picked,
        "shared_is_shared": count_shared.__globals__["SHARED"] is SHARED,
        "tags": sorted(TAGS[Colour.RED]),
        "kinds": sorted(Config.kinds),
        "slot": SLOT.a + Slotted(3, 4).b,
        "virtual": issubclass(Square, Shape) and issubclass(Circle, Shape),
        "made": [sorted(Made1.model_fields), sorted(Made2.model_fields), Made1 is not Made2],
        "file": __file__,
    }


def _fails(make) -> bool:
    try:
        make()
    except pydantic.ValidationError:
        return True
    return False
'''

PICKLE = """
import copy, hashlib, pickle, sys
sys.path.insert(0, sys.argv[1])
import sink
if sys.argv[3] == "busy":  # what a notebook may have done with the classes before it compiles
    copy.copy(sink.SLOT); pickle.dumps(sink.Slotted(3, 4)); copy.deepcopy(sink.DEFAULT)
    config = sink.Config(x=5); config.x = 7; sink.Node(name="n").name = "m"
    sink.Config.model_json_schema(); sink.ADAPTER.json_schema(); hash(frozenset(sink.LABELS))
    import cloudpickle; cloudpickle.dumps(sink.step)
from mlopsdsl.runtime.payload import pickle_function
open(sys.argv[2], "wb").write(pickle_function(sink.step, portable=True))
"""

CALL = """
import json, sys
import dataclasses
from mlopsdsl.runtime._code import load_payload, unwrap_step
step = unwrap_step(load_payload(open(sys.argv[1], "rb").read()))
assert "sink" not in sys.modules
hints = step.__annotations__
node = hints["node"](name="a", children=[{"name": "b"}], partner={"node": {"name": "c"}})
Row = hints["row"]
row = Row("r", dataclasses.fields(Row)[1].type.GREEN)
print(json.dumps(step(node, hints["config"](x=9, colour="green"), row, 4), default=str))
"""


@pytest.fixture
def sink(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "sink.py").write_text(SINK)
    return folder


def _pickle_in_a_fresh_process(folder: Path, out: Path, seed: str, cwd: Path, history: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PICKLE, str(folder), str(out), history],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out.read_bytes()


def test_same_bytes_from_any_process_and_history(sink: Path, tmp_path: Path) -> None:
    runs = [
        ("0", sink, "fresh"),
        ("1", tmp_path, "fresh"),
        ("77", Path("/"), "busy"),
        ("random", sink, "busy"),
    ]
    payloads = {
        _pickle_in_a_fresh_process(sink, tmp_path / f"p{i}", seed, cwd, history)
        for i, (seed, cwd, history) in enumerate(runs)
    }
    assert len(payloads) == 1
    payload = payloads.pop()
    assert str(tmp_path).encode() not in payload  # no absolute path: file names are relative to the root


def test_it_loads_and_behaves_where_the_module_does_not_exist(sink: Path, tmp_path: Path) -> None:
    payload = tmp_path / "step.pkl"
    _pickle_in_a_fresh_process(sink, payload, "3", tmp_path, "fresh")
    done = subprocess.run(
        [sys.executable, "-c", CALL, str(payload)], cwd="/", capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {
        "node": {"name": "a", "children": [{"name": "b", "children": [], "partner": None}],
                 "partner": {"node": {"name": "c", "children": [], "partner": None},
                             "colours": ["blue", "green", "red"]}},
        "config": {"x": 9, "kind": "a", "colour": "Colour.GREEN", "source": {"ref": "release:20240101"}, "double": 18},
        "bad_config": True,
        "extra_forbidden": True,
        "box": 4,
        "checked": 5,
        "row_colour_type": "Colour",
        "row": ["r", "green"],
        "pair": [{"low": 1, "high": 9}, "Pair(low=1, high=5)", 7, "Its gener"],
        "default": {"x": 3, "kind": "b", "colour": "Colour.RED", "source": {"ref": "release:20240101"}, "double": 6},
        "adapter": 10,
        "labels": ["alpha", "bravo", "charlie", "delta", "echo"],
        "by_label": {"alpha": 1, "bravo": 2},
        "picked": ["one", "two"],
        "shared_is_shared": True,
        "tags": ["r", "rr", "rrr"],
        "kinds": ["forest", "linear", "tree"],
        "slot": 5,
        "virtual": True,
        "made": [["value"], ["label"], True],
        "file": "sink.py",
    }  # fmt: skip


def test_sets_keep_their_identity_and_their_type(tmp_path: Path) -> None:
    shared = {"x", "y", "z"}
    frozen = frozenset({("b", 2), ("a", 1), ("c", 3)})

    def fn() -> object:
        return shared, shared, frozen, {"k": shared}, {1}, set()

    a, b, c, d, one, empty = load_payload(pickle_function(fn))()
    assert a is b is d["k"] and a == shared and type(a) is set
    assert c == frozen and type(c) is frozenset
    assert one == {1} and empty == set()


def test_a_set_met_again_while_its_items_are_written_loads() -> None:
    """A registry of functions that read the registry: pickling a set's items reaches the set again."""
    handlers: set[Callable[[], int]] = set()

    def first() -> int:
        return len(handlers)

    def second() -> int:
        return len(handlers) + 10

    handlers.update({first, second})
    frozen = frozenset({first, lambda: len(frozen), lambda: -len(frozen)})

    def fn() -> tuple[list[int], list[int]]:
        return sorted(h() for h in handlers), sorted(h() for h in frozen)

    loaded = load_payload(pickle_function(fn))
    assert loaded() == ([2, 12], [-3, 2, 3])
    shipped = dict(zip(loaded.__code__.co_freevars, loaded.__closure__ or (), strict=True))
    registry = shipped["handlers"].cell_contents
    (shipped_first,) = [h for h in registry if h.__name__ == "first"]
    assert shipped_first.__closure__[0].cell_contents is registry  # still one set


def test_a_plain_unpickler_refuses_a_payload_with_sets_rather_than_guess() -> None:
    labels = {"p", "q", "r"}

    def fn() -> int:
        return len(labels)

    with pytest.raises(pickle.UnpicklingError):
        pickle.loads(pickle_function(fn))


def test_step_code_sees_its_module_file_relative_to_the_import_root(tmp_path: Path) -> None:
    package = tmp_path / "root" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(
        textwrap.dedent(
            """
            def where():
                return __file__, where.__code__.co_filename
            """
        )
    )
    script = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/pkg']; import pkg.mod; "
        "from mlopsdsl.runtime.payload import pickle_function; "
        "sys.stdout.buffer.write(pickle_function(pkg.mod.where, portable=True))"
    )
    # The working directory (and a deeper sys.path entry) must not change what is recorded.
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "root")], cwd=cwd, capture_output=True, check=True
        ).stdout
        for cwd in (tmp_path, package)
    }
    assert len(outputs) == 1
    assert load_payload(outputs.pop())() == ("pkg/mod.py", "pkg/mod.py")
