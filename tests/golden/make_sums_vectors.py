"""Writes ``sums_vectors.json``: inputs and the exact four sums of the reduction rule on them.

The rule (``tensorboard_plugin_deadrelu/core/sums.py``, module docstring) is
implemented four times (numpy, TensorFlow, ``keras.ops``, torch);
``tests/test_sums_vectors.py`` checks each against these vectors. The expected
values are computed here from the rule itself, with Python ints and
``fractions.Fraction`` on the exact values the inputs hold in their dtype, and
never with any of the implementations. Regenerate only when a case is added or
the rule changes on purpose:

    python -m tests.golden.make_sums_vectors

Each case holds ``values`` (nested lists; NaN and infinities as the strings
``"NaN"``, ``"Infinity"``, ``"-Infinity"`` so the file stays plain JSON),
``shape`` (kept for empty batches, whose nested lists lose it), ``dtype``,
``layout`` (``channels_last``: units on the last axis; ``channels_first``:
units on axis 1), the expected ``count``, ``zeros``, ``abs_sum``,
``nonfinite`` and ``abs_sum_rtol``, the relative error the rule allows
``abs_sum`` within one batch: ``n * 2**-24`` for float32 and narrower inputs,
``n * 2**-53`` for float64 and integer inputs, with ``n`` = ``count``.
``abs_sum_beyond_float32`` marks a sum past float32's largest value, which a
backend without float64 may give as +Inf (as every record stores it).
"""

import json
import math
import os
from fractions import Fraction

import ml_dtypes
import numpy as np

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sums_vectors.json")
NAN, INF = float("nan"), float("inf")
DTYPES = {
    "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
    "float32": np.float32,
    "float64": np.float64,
    "int32": np.int32,
}
NARROW = ("float16", "bfloat16", "float32")
FLOAT32_MAX = Fraction(float(np.finfo(np.float32).max))

CASES = [
    {
        "name": "float32_plain",
        "note": "unit 1 dead (all zeros); unit 0 one zero",
        "dtype": "float32",
        "layout": "channels_last",
        "values": [[0.5, 0.0, 1.25], [2.0, 0.0, -3.5], [0.0, 0.0, 0.75]],
    },
    {
        "name": "negative_zero_is_zero",
        "note": "-0.0 counts as a zero, adds 0 to abs_sum; unit 1 dead with only -0.0 and 0.0",
        "dtype": "float32",
        "layout": "channels_last",
        "values": [[-0.0, 1.0], [0.0, -0.0], [-2.0, -0.0]],
    },
    {
        "name": "nan_and_infinities",
        "note": "NaN, +Inf, -Inf: never zero, counted in nonfinite, left out of abs_sum",
        "dtype": "float32",
        "layout": "channels_last",
        "values": [[NAN, 1.0, 0.0], [INF, -0.0, 2.0], [-INF, 3.0, NAN], [0.0, -1.0, -INF]],
    },
    {
        "name": "a_unit_all_nan",
        "note": "unit 0 only NaN: zeros 0, nonfinite = count, abs_sum 0 (not dead, not NaN)",
        "dtype": "float32",
        "layout": "channels_last",
        "values": [[NAN, 1.0], [NAN, 0.0], [NAN, -0.0]],
    },
    {
        "name": "int32_with_negatives",
        "note": "integers: |-2**31| = 2**31 (no wrap-around), nonfinite 0",
        "dtype": "int32",
        "layout": "channels_last",
        "values": [[-2147483648, 0, 5], [2147483647, -7, 0], [0, 0, -1], [-3, 0, 0]],
    },
    {
        "name": "float16_exact_values",
        "note": "float16 extremes (65504, 2**-10, smallest subnormal 2**-24), -0.0 and +Inf",
        "dtype": "float16",
        "layout": "channels_last",
        "values": [[0.5, -0.0, 65504.0], [0.0, 0.25, -1.5], [-3.0, 0.0, 0.0009765625], [5.960464477539063e-08, INF, 0.0]],
    },
    {
        "name": "bfloat16_exact_values",
        "note": "bfloat16 values with 8 significant bits, 2**33, -0.0 and NaN",
        "dtype": "bfloat16",
        "layout": "channels_last",
        "values": [[1.5, 0.0, -256.0], [-0.0, 0.0078125, 8589934592.0], [-96.0, NAN, 0.0]],
    },
    {
        "name": "channels_first_rank4",
        "note": "NCHW [2, 3, 2, 2]: units on axis 1, batch and positions reduced; unit 2 dead",
        "dtype": "float32",
        "layout": "channels_first",
        "values": [
            [[[0.0, 1.0], [2.0, 0.0]], [[-0.5, 0.0], [0.0, 0.0]], [[0.0, -0.0], [0.0, 0.0]]],
            [[[3.0, 0.0], [0.0, 0.0]], [[1.5, NAN], [0.0, 2.5]], [[0.0, 0.0], [-0.0, 0.0]]],
        ],
    },
    {
        "name": "channels_last_rank3",
        "note": "[2, 2, 3]: a sequence layer's output, units last",
        "dtype": "float32",
        "layout": "channels_last",
        "values": [[[0.0, 1.0, -2.0], [0.0, 0.0, 4.0]], [[0.0, 0.25, 0.0], [0.0, -0.0, 8.0]]],
    },
    {
        "name": "channels_last_rank4",
        "note": "NHWC [2, 2, 2, 3]: units last, batch and positions reduced",
        "dtype": "float32",
        "layout": "channels_last",
        "values": [
            [[[0.0, 1.0, 0.0], [2.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.5, 0.0, -0.0]]],
            [[[0.0, 3.0, 0.0], [0.0, INF, 0.0]], [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]],
        ],
    },
    {
        "name": "empty_batch_channels_last",
        "note": "a batch of size 0: count 0, every sum 0",
        "dtype": "float32",
        "layout": "channels_last",
        "shape": [0, 4],
        "values": [],
    },
    {
        "name": "empty_batch_rank3",
        "note": "a batch of size 0 of a rank-3 output",
        "dtype": "float32",
        "layout": "channels_last",
        "shape": [0, 2, 3],
        "values": [],
    },
    {
        "name": "empty_batch_channels_first",
        "note": "a batch of size 0 of an NCHW output: count 0, 3 units",
        "dtype": "float32",
        "layout": "channels_first",
        "shape": [0, 3, 2, 2],
        "values": [],
    },
    {
        "name": "single_row",
        "note": "one row: count 1",
        "dtype": "float32",
        "layout": "channels_last",
        "values": [[0.0, -4.0, 0.125, -0.0]],
    },
    {
        "name": "float32_sum_inexact",
        "note": "2**24 + seven 1.0: a float32 running sum keeps 2**24 (each 1.0 lost); "
        "the tolerance n * 2**-24 covers it, float64 does not lose them",
        "dtype": "float32",
        "layout": "channels_last",
        "values": [
            [16777216.0, 1.0e8, 3.0],
            [1.0, 1.0e-3, 33554432.0],
            [1.0, 1.0e-3, 1.0],
            [1.0, 1.0e-3, 1.0],
            [1.0, 1.0e-3, 1.0],
            [1.0, 1.0e-3, 1.0],
            [1.0, 1.0e-3, 1.0],
            [1.0, 1.0e-3, 1.0],
        ],
    },
    {
        "name": "float32_sum_past_float32_max",
        "note": "two finite 3e38: their sum 6e38 exceeds float32; it is not a NaN/Inf value "
        "(nonfinite 0); a record stores it as +Inf (float32)",
        "dtype": "float32",
        "layout": "channels_last",
        "values": [[3.0e38, 1.0], [-3.0e38, 0.0]],
    },
    {
        "name": "float64_rounding",
        "note": "float64: 1e16 + 1 + 1 rounds in float64 (spacing 2); NaN left out",
        "dtype": "float64",
        "layout": "channels_last",
        "values": [[1.0e16, 1.0], [1.0, -0.0], [1.0, NAN]],
    },
]


def to_json_value(x):
    """A float as JSON: NaN and infinities as strings, -0.0 kept."""
    if isinstance(x, list):
        return [to_json_value(v) for v in x]
    if isinstance(x, float) and math.isnan(x):
        return "NaN"
    if isinstance(x, float) and math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def expected(case):
    """The four sums of ``case`` by the rule, exactly, and the ``abs_sum`` tolerance."""
    dtype = DTYPES[case["dtype"]]
    array = np.array(case["values"], dtype=np.float64 if case["dtype"] != "int32" else np.int64)
    array = array.reshape(case.get("shape", array.shape))
    held = array.astype(dtype)
    if case["dtype"] != "int32":
        # Every input value must be exactly what its dtype holds (NaN aside).
        back = held.astype(np.float64)
        same = (back == array) | (np.isnan(back) & np.isnan(array))
        assert same.all() or case["dtype"] in ("float32", "float64"), case["name"]
        assert (np.signbit(back) == np.signbit(array)).all(), case["name"]
    if case["layout"] == "channels_first":
        held = np.moveaxis(held, 1, -1)
    units = held.shape[-1]
    rows = held.reshape(-1, units)
    count = rows.shape[0]
    zeros, abs_sum, nonfinite = [0] * units, [Fraction(0)] * units, [0] * units
    for row in rows:
        for u, value in enumerate(row):
            if case["dtype"] == "int32":
                exact = Fraction(int(value))
            else:
                v = float(value)
                if not math.isfinite(v):
                    nonfinite[u] += 1
                    continue
                exact = Fraction(v)
            if exact == 0:
                zeros[u] += 1
            abs_sum[u] += abs(exact)
    unit_roundoff = 2**-24 if case["dtype"] in NARROW else 2**-53
    out = {
        "count": count,
        "zeros": zeros,
        "abs_sum": [float(s) for s in abs_sum],
        "nonfinite": nonfinite,
        "abs_sum_rtol": count * unit_roundoff,
    }
    if any(s > FLOAT32_MAX for s in abs_sum):
        out["abs_sum_beyond_float32"] = True
    return out


def main():
    cases = []
    for case in CASES:
        shape = case.get("shape") or list(np.shape(case["values"]))
        cases.append(
            {
                "name": case["name"],
                "note": case["note"],
                "dtype": case["dtype"],
                "layout": case["layout"],
                "shape": shape,
                "values": to_json_value(case["values"]),
                **expected(case),
            }
        )
    document = {
        "rule": "tensorboard_plugin_deadrelu/core/sums.py (module docstring)",
        "tolerance": "count, zeros, nonfinite exact; |abs_sum - expected| <= abs_sum_rtol * expected, "
        "abs_sum_rtol = count * 2**-24 for float32 and narrower inputs, count * 2**-53 for float64 "
        "and integer inputs (a backend without float64 sums those in float32: count * 2**-24)",
        "cases": cases,
    }
    with open(PATH, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
