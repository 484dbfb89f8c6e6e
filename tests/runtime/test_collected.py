"""Fan-in of stored values: a ``collected`` input is a list of objects or artifacts, each checked."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

import mlopsdsl as ml
from mlopsdsl.runtime import execute


def stored(tmp_path: Path, values: list[Any]) -> list[dict[str, Any]]:
    records = []
    for i, value in enumerate(values):
        path = tmp_path / f"value-{i}"
        path.write_bytes(pickle.dumps(value))
        records.append(
            {"file": str(path), "format": "pickle", "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        )
    return records


def total(boxes: list[dict[str, int]]) -> int:
    return sum(b["v"] for b in boxes)


def sizes(datasets: list[ml.Dataset]) -> list[int]:
    return [len(Path(d.path).read_text()) for d in datasets]


def spec(inputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": 1,
        "step": "fan_in",
        "code": {"mode": "import", "module": "unused", "qualname": "unused"},
        "inputs": inputs,
        "outputs": [{"name": "output", "kind": "json"}],
        "returns": "single",
    }


def test_items_known_when_the_spec_is_written(tmp_path: Path) -> None:
    items = stored(tmp_path, [{"v": 1}, {"v": 2}, {"v": 3}])
    result = execute(
        spec([{"name": "boxes", "kind": "collected", "item_kind": "object", "items": items}]), function=total
    )
    assert result["outputs"]["output"]["value"] == 6


@pytest.mark.parametrize("source", ["value", "arg"])
def test_records_given_at_run_time(tmp_path: Path, source: str) -> None:
    records = stored(tmp_path, [{"v": 5}, {"v": 7}])
    given: dict[str, Any] = {"value": records} if source == "value" else {"arg": "boxes"}
    inputs = [{"name": "boxes", "kind": "collected", "item_kind": "object", "records": given}]
    result = execute(spec(inputs), function=total, args={"boxes": json.dumps(records)})
    assert result["outputs"]["output"]["value"] == 12


def test_collected_artifacts_and_an_empty_list(tmp_path: Path) -> None:
    paths = []
    for i, text in enumerate(["a", "bbb"]):
        path = tmp_path / f"data-{i}.txt"
        path.write_text(text)
        paths.append({"file": str(path), "sha256": hashlib.sha256(text.encode()).hexdigest()})
    inputs = [
        {"name": "datasets", "kind": "collected", "item_kind": "artifact", "type": "Dataset", "items": paths}
    ]
    assert execute(spec(inputs), function=sizes)["outputs"]["output"]["value"] == [1, 3]
    inputs = [{"name": "datasets", "kind": "collected", "item_kind": "artifact", "records": {"value": []}}]
    assert execute(spec(inputs), function=sizes)["outputs"]["output"]["value"] == []


def test_a_damaged_element_fails_its_digest_check(tmp_path: Path) -> None:
    records = stored(tmp_path, [{"v": 1}, {"v": 2}])
    Path(records[1]["file"]).write_bytes(pickle.dumps({"v": 99}))
    inputs = [{"name": "boxes", "kind": "collected", "item_kind": "object", "records": {"value": records}}]
    result = execute(spec(inputs), function=total)
    assert not result["ok"]
    assert (
        "input 'boxes[1]'" in result["error"]["message"]
        and "changed or damaged" in result["error"]["message"]
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"item_kind": "object"}, "a collected input needs exactly one of 'items' or 'records'"),
        ({"item_kind": "json", "items": []}, "item_kind"),
        (
            {"item_kind": "object", "records": {"value": [{"format": "pickle"}]}},
            "a record names its 'file' or 'uri'",
        ),
    ],
)
def test_malformed_collected_inputs_are_not_retried(entry: dict[str, Any], message: str) -> None:
    result = execute(spec([{"name": "boxes", "kind": "collected", **entry}]), function=total)
    assert not result["ok"] and result["error"]["retry"] is False
    assert message in result["error"]["message"]


def test_records_say_what_they_are(tmp_path: Path) -> None:
    """A producer's record names its kind and artifact type; the consumer's spec need not know them."""
    path = tmp_path / "rows.txt"
    path.write_text("abcd")
    record = {
        "kind": "artifact",
        "type": "Dataset",
        "file": str(path),
        "sha256": hashlib.sha256(b"abcd").hexdigest(),
    }
    inputs = [
        {"name": "datasets", "kind": "collected", "item_kind": "object", "records": {"value": [record]}}
    ]

    def kinds(datasets: list[Any]) -> list[str]:
        return [type(d).__name__ for d in datasets]

    assert execute(spec(inputs), function=kinds)["outputs"]["output"]["value"] == ["Dataset"]
