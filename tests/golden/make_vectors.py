"""Writes ``analysis_vectors.json``: inputs and the outputs of ``analysis.py`` on them.

The fixture pins one definition of dead / nearly dead / death step / revived /
still dead / τ-dormant for Python (``tests/test_analysis.py``) and JavaScript
(``tests/frontend``). It is generated here from ``analysis.py`` and then
checked by hand (the cases' comments say what to expect); regenerate only when
a definition changes on purpose, and only ever add keys:

    python -m tests.golden.make_vectors
"""

import json
import math
import os

import numpy as np

from tensorboard_plugin_deadrelu.core import analysis

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis_vectors.json")
BIG = 16_000_000_000  # > 2**32: one ImageNet epoch through a stem convolution; < 2**53, exact in JS

# Each case: name, what a reader should see in it, and the inputs.
CASES = [
    {
        "name": "basic_with_a_step_that_saw_nothing",
        "note": "u0 dead at 0,1; count 0 at step 2 kills nobody; dead again at 5,9 -> death step 5; "
        "u2 dead only at 5 -> revived; u3 dead at 0 and 5 -> revived",
        "steps": [0, 1, 2, 5, 9],
        "count": [10, 10, 0, 10, 10],
        "zeros": [[10, 0, 9, 10], [10, 10, 9, 0], [0, 0, 0, 0], [10, 10, 10, 10], [10, 10, 5, 0]],
        "abs_sum": [[0, 5, 0.5, 0], [0, 0, 1, 8], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 4, 6]],
        "nonfinite": [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
        "threshold": 0.9,
        "tau": 0.025,
    },
    {
        "name": "count_above_2_to_the_32",
        "note": "count 1.6e10: u0 dead (zeros == count), u1 one value short of dead (not dead, nearly dead), "
        "u2 half zeros",
        "steps": [0, 1],
        "count": [BIG, BIG],
        "zeros": [[BIG, BIG - 1, BIG // 2], [BIG, BIG - 1, BIG // 2]],
        "abs_sum": [[0.0, 3.0, 8.0e9], [0.0, 1.0, 4.0e9]],
        "nonfinite": [[0, 0, 0], [0, 0, 0]],
        "threshold": 0.99,
        "tau": 0.025,
    },
    {
        "name": "nonfinite_values",
        "note": "u0 zeros + NaN/Inf == count: not dead (NaN is never zero); u1 only NaN/Inf: not dead, "
        "dormant score null; u2 dead; u3 alive with 2 nonfinite -> mean over 2 finite values",
        "steps": [3],
        "count": [4],
        "zeros": [[2, 0, 4, 0]],
        "abs_sum": [[0.0, 0.0, 0.0, 6.0]],
        "nonfinite": [[2, 4, 0, 2]],
        "threshold": 0.5,
        "tau": 0.1,
    },
    {
        "name": "a_unit_revives_and_dies_again",
        "note": "u0: dead, alive, dead, dead -> death step 20, not revived; u1: dead, dead, alive, alive -> "
        "revived, never dead for good; u2 never dead",
        "steps": [0, 10, 20, 30],
        "count": [8, 8, 8, 8],
        "zeros": [[8, 8, 1], [7, 8, 2], [8, 0, 3], [8, 6, 4]],
        "abs_sum": [[0, 0, 7], [1, 0, 6], [0, 8, 5], [0, 2, 4]],
        "nonfinite": [[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]],
        "threshold": 0.75,
        "tau": 0.025,
    },
    {
        "name": "all_zero_layer_is_all_dormant",
        "note": "step 0: every unit outputs only 0 -> all dead and every score 0 (dormant); "
        "step 1: means 1 and 3 -> layer mean 2, scores 0.5 and 1.5; tau 0.5 counts u0 (<=)",
        "steps": [0, 1],
        "count": [5, 5],
        "zeros": [[5, 5], [0, 0]],
        "abs_sum": [[0.0, 0.0], [5.0, 15.0]],
        "nonfinite": [[0, 0], [0, 0]],
        "threshold": 0.99,
        "tau": 0.5,
    },
    {
        "name": "threshold_boundaries",
        "note": "zeros == threshold * count counts as nearly dead: 99 of 100 at 0.99 does, 98 of 100 does not; "
        "at step 8 (count 3) only the dead unit is nearly dead",
        "steps": [7, 8],
        "count": [100, 3],
        "zeros": [[99, 98, 100], [2, 1, 3]],
        "abs_sum": [[1.0, 2.0, 0.0], [1.0, 2.0, 0.0]],
        "nonfinite": [[0, 0, 0], [0, 0, 0]],
        "threshold": 0.99,
        "tau": 0.025,
    },
    {
        "name": "one_step_one_unit_dead_from_the_start",
        "note": "a single step: death step is that step, nothing revived",
        "steps": [0],
        "count": [1],
        "zeros": [[1]],
        "abs_sum": [[0.0]],
        "nonfinite": [[0]],
        "threshold": 0.99,
        "tau": 0.025,
    },
]


def _nulls(matrix):
    """Nested lists with NaN as None (JSON has no NaN)."""
    return [[None if math.isnan(v) else float(v) for v in row] for row in matrix]


def expected(case):
    count = np.array(case["count"], dtype=np.int64)
    zeros = np.array(case["zeros"], dtype=np.uint64)
    abs_sum = np.array(case["abs_sum"], dtype=np.float64)
    nonfinite = np.array(case["nonfinite"], dtype=np.uint64)
    steps = np.array(case["steps"], dtype=np.int64)
    dead = analysis.dead_mask(count, zeros)
    return {
        "dead": dead.tolist(),
        "dead_counts": analysis.dead_counts(count, zeros).tolist(),
        "nearly_dead_counts": analysis.nearly_dead_counts(count, zeros, case["threshold"]).tolist(),
        "death_steps": analysis.death_steps(steps, dead),
        "revived": analysis.revived(dead).tolist(),
        "still_dead_counts": analysis.still_dead_counts(dead).tolist(),
        "dormant_scores": _nulls(analysis.dormant_scores(count, abs_sum, nonfinite)),
        "dormant_counts": analysis.dormant_counts(count, abs_sum, nonfinite, case["tau"]).tolist(),
        "zero_fractions": _nulls(analysis.zero_fractions(count, zeros)),
        "first_fully_dead_step": analysis.first_fully_dead_step(steps, dead),
    }


def build():
    cases = []
    for case in CASES:
        inputs = {k: case[k] for k in ("steps", "count", "zeros", "abs_sum", "nonfinite", "threshold", "tau")}
        cases.append({"name": case["name"], "note": case["note"], "inputs": inputs, "expected": expected(case)})
    return {
        "defaults": {"tau": analysis.DEFAULT_TAU, "nearly_dead_threshold": analysis.DEFAULT_NEARLY_DEAD_THRESHOLD},
        "cases": cases,
    }


if __name__ == "__main__":
    with open(PATH, "w", encoding="utf-8") as f:
        json.dump(build(), f, indent=1)
        f.write("\n")
    print("wrote", PATH)
