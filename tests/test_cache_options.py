"""``cache_max_age`` and ``cache_ignore``: checked where written, kept in the IR, and written into every
backend's call spec for the one cache rule (``runtime/_cache.py``); their effect on every path is proven by
``tests/conformance/test_caching.py``."""

from __future__ import annotations

import time

import pytest

import mlopsdsl as ml
from mlopsdsl.runtime._cache import cache_key, entry_of, fresh, spec_section


@ml.step(cache_max_age="1d", cache_ignore=["seed"])
def sample(n: int, seed: int = 0) -> int:
    return n


def test_the_options_reach_the_ir_as_seconds_and_names() -> None:
    options = sample.spec()[0].options
    assert options.cache_max_age == 86400.0 and options.cache_ignore == ["seed"]


def test_an_ignored_input_that_is_no_input_is_reported_at_the_step() -> None:
    @ml.step(cache_ignore=["sede"], cache_max_age="soon")
    def typo(n: int, seed: int = 0) -> int:
        return n

    @ml.pipeline
    def uses(n: int = 1) -> int:
        return typo(n=n)

    with pytest.raises(ml.ValidationError) as info:
        uses.build()
    text = str(info.value)
    assert "step 'typo': cache_ignore names 'sede', which is not an input (inputs: n, seed)" in text
    assert "step 'typo': cache_max_age must be a duration such as '30s'" in text
    assert all(p.location is not None and p.location.file.endswith("test_cache_options.py")
               for p in info.value.problems)  # fmt: skip


def test_the_key_leaves_ignored_inputs_out_and_nothing_else() -> None:
    parts = {"n": {"value": 1}, "seed": {"value": 7}}
    assert cache_key("d", parts, ["seed"]) == cache_key(
        "d", {"n": {"value": 1}, "seed": {"value": 8}}, ["seed"]
    )
    assert cache_key("d", parts, ["seed"]) == cache_key("d", {"n": {"value": 1}})
    assert cache_key("d", parts) != cache_key("d", {"n": {"value": 1}, "seed": {"value": 8}})


def test_an_entry_is_fresh_until_max_age() -> None:
    entry = entry_of({})
    now = time.time()
    assert fresh(entry, None) and fresh(entry, 60, now=now)
    assert not fresh(entry, 60, now=entry["created"] + 61)
    assert not fresh({"outputs": {}}, 60)  # no age recorded: too old to tell
    assert fresh({"outputs": {}}, None)


def test_the_call_spec_carries_the_options_only_when_the_pods_cache() -> None:
    assert spec_section("d", None, True, ["seed"], 60.0) == {"step": "d"}
    assert spec_section("d", "/c", True, ["seed", "a"], 60.0) == {
        "step": "d",
        "store": "/c",
        "read": True,
        "ignore": ["a", "seed"],
        "max_age": 60.0,
    }


def test_kfp_leaves_a_step_with_a_max_age_to_the_pods_cache() -> None:
    pytest.importorskip("mlopsdsl_kfp")
    import yaml

    @ml.step(cache_max_age="1h")
    def perishable(n: int) -> int:
        return n

    @ml.step(cache_ignore=["seed"])
    def seeded(n: int, seed: int = 0) -> int:
        return n

    @ml.pipeline
    def two(n: int = 1) -> int:
        return perishable(n=seeded(n=n))

    spec = next(yaml.safe_load_all(ml.compile(two, backend="kfp")))
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["seeded"]["cachingOptions"] == {"enableCache": True}  # an ignored input only keys less
    assert tasks["perishable"]["cachingOptions"] == {}  # KFP's own cache has no age limit
