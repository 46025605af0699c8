"""The one order of names (core/ordering.py) against the golden vectors that
also pin frontend/ordering.js (tests/golden/ordering_vectors.json, read by
tests/frontend/ordering.test.mjs too)."""

import json
import os
import random

import pytest

from tensorboard_plugin_deadrelu.core import ordering

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "ordering_vectors.json"), encoding="utf-8") as f:
    GOLDEN = json.load(f)

# Each "a < b" of the rule's description, also asserted in ordering.test.mjs.
EXAMPLES = [
    ("dense_2", "dense_10"),
    ("conv", "Dense_10"),
    ("Conv", "conv"),
    ("a-1", "a_1"),
    ("lr0.001_bs64", "lr0.01_bs64"),
    ("lr0.01_bs64", "lr0.1_bs64"),
    ("lr0.1_bs64", "lr1_bs64"),
    ("lr1e-4", "lr1e-3"),
    ("lr1e-3", "lr0.01"),
    ("blocks.1.9", "blocks.1.10"),
    ("v1.2.3", "v1.10.0"),
    ("sweep/lr0.01_wd0_seed3", "sweep/lr0.01_wd0_seed10"),
    ("run", "run_1"),
    ("x01", "x1"),
]


def shuffled(items, seed):
    items = list(items)
    random.Random(seed).shuffle(items)
    return items


def test_the_fixture_covers_what_it_should():
    names = [name for group in GOLDEN["groups"] for name in group["names"]]
    assert len(GOLDEN["groups"]) >= 8 and len(GOLDEN["model_order"]) >= 3
    assert "" in names
    assert any(not name.isascii() for name in names)
    assert any(len(token) > 20 for name in names for is_number, token in ordering.tokenize(name) if is_number)
    assert any(name.endswith("_bs64") and "e-" in name for name in names), "an exponent inside a sweep name"


@pytest.mark.parametrize("group", GOLDEN["groups"], ids=lambda g: g["name"])
def test_groups_sort_into_the_expected_order(group):
    expected = group["names"]
    assert len(set(expected)) == len(expected)
    for seed in range(5):
        assert sorted(shuffled(expected, seed), key=ordering.natural_key) == expected
    assert sorted(reversed(expected), key=ordering.natural_key) == expected


@pytest.mark.parametrize("case", GOLDEN["model_order"], ids=lambda c: c["name"])
def test_model_order_cases(case):
    expected = [layer["tag"] for layer in case["layers"]]
    for seed in range(5):
        layers = shuffled(case["layers"], seed)
        assert [l["tag"] for l in sorted(layers, key=lambda l: ordering.model_order_key(l["order"], l["tag"]))] == expected


@pytest.mark.parametrize("case", GOLDEN["tokens"], ids=lambda c: c["name"] or "empty")
def test_tokens(case):
    assert [["number" if is_number else "text", text] for is_number, text in ordering.tokenize(case["name"])] == case["tokens"]


@pytest.mark.parametrize("a, b", EXAMPLES)
def test_examples(a, b):
    assert ordering.natural_key(a) < ordering.natural_key(b)
    assert sorted([b, a], key=ordering.natural_key) == [a, b]


def test_equal_values_differ_only_in_the_tie_break():
    for a, b in [("x01", "x1"), ("x0.10", "x0.1"), ("lr1e-3", "lr0.001"), ("wd0", "wd0.000"), ("Conv", "conv")]:
        assert ordering.natural_key(a)[0] == ordering.natural_key(b)[0]
        assert ordering.natural_key(a) != ordering.natural_key(b)


def test_exponents_longer_than_pythons_int_string_limit_still_compare_exactly():
    small, large = "x1e" + "9" * 5000, "x1e1" + "0" * 5000
    assert sorted([large, small], key=ordering.natural_key) == [small, large]
