"""analysis.py against hand-made series and plain-Python loops as ground truth."""

import json
import math
import os
from types import SimpleNamespace

import numpy as np
import pytest

from tensorboard_plugin_deadrelu.core import analysis

# 5 steps x 4 units, count 10 per step except step index 2 (count 0: nothing observed).
STEPS = np.array([0, 1, 2, 5, 9])
COUNT = np.array([10, 10, 0, 10, 10])
ZEROS = np.array(
    [
        [10, 0, 9, 10],  # u0 dead, u3 dead
        [10, 10, 9, 0],  # u0, u1 dead; u3 alive again
        [0, 0, 0, 0],  # nothing observed: nobody dead
        [10, 10, 10, 10],  # all dead
        [10, 10, 5, 0],  # u0, u1 dead at the last step
    ]
)


def loop_dead(count, zeros):
    return [[count[s] > 0 and zeros[s][u] == count[s] for u in range(len(zeros[s]))] for s in range(len(count))]


def test_dead_mask_and_counts_match_loops():
    expected = loop_dead(COUNT, ZEROS)
    np.testing.assert_array_equal(analysis.dead_mask(COUNT, ZEROS), expected)
    np.testing.assert_array_equal(analysis.dead_counts(COUNT, ZEROS), [2, 2, 0, 4, 2])


def test_nearly_dead_counts_at_threshold():
    # 9 of 10 zeros counts at 0.9, not at 0.99; count 0 never counts.
    np.testing.assert_array_equal(analysis.nearly_dead_counts(COUNT, ZEROS, 0.9), [3, 3, 0, 4, 2])
    np.testing.assert_array_equal(analysis.nearly_dead_counts(COUNT, ZEROS, 0.99), [2, 2, 0, 4, 2])
    np.testing.assert_array_equal(analysis.nearly_dead_counts(COUNT, ZEROS, 0.5), [3, 3, 0, 4, 3])
    np.testing.assert_array_equal(analysis.nearly_dead_counts(COUNT, ZEROS, 1.0), analysis.dead_counts(COUNT, ZEROS))


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan"), "x", None])
def test_threshold_outside_range_is_rejected_by_name(bad):
    with pytest.raises(ValueError, match="threshold"):
        analysis.nearly_dead_counts(COUNT, ZEROS, bad)


def test_death_steps_revived_still_dead_and_fully_dead():
    dead = analysis.dead_mask(COUNT, ZEROS)
    # u0: dead at 0,1, not at 2 (count 0), dead at 5, 9 -> dead for good from step 5.
    # u1: dead at 1, not 2, dead 5, 9 -> 5. u2: not dead at the end -> None. u3: None.
    assert analysis.death_steps(STEPS, dead) == [5, 5, None, None]
    np.testing.assert_array_equal(analysis.revived(dead), [False, False, True, True])
    # units dead at step s and at the last step (u0, u1 are dead at the end).
    np.testing.assert_array_equal(analysis.still_dead_counts(dead), [1, 2, 0, 2, 2])
    assert analysis.first_fully_dead_step(STEPS, dead) == 5


def test_death_step_when_dead_from_the_start_and_empty_series():
    dead = np.array([[True, False], [True, True]])
    assert analysis.death_steps([3, 4], dead) == [3, 4]
    assert analysis.death_steps([], np.zeros((0, 3), bool)) == [None, None, None]
    np.testing.assert_array_equal(analysis.revived(np.zeros((0, 3), bool)), [False] * 3)
    np.testing.assert_array_equal(analysis.still_dead_counts(np.zeros((0, 3), bool)), [])
    assert analysis.first_fully_dead_step([], np.zeros((0, 3), bool)) is None


def test_death_steps_random_against_loop():
    rng = np.random.default_rng(0)
    dead = rng.random((40, 30)) < 0.7
    steps = np.arange(40) * 3
    expected = []
    for u in range(30):
        first = None
        for s in range(40):
            if all(dead[t, u] for t in range(s, 40)):
                first = int(steps[s])
                break
        expected.append(first)
    assert analysis.death_steps(steps, dead) == expected


def test_dormant_scores_follow_sokar_definition():
    count = np.array([4, 4])
    abs_sum = np.array([[0.0, 4.0, 8.0], [0.0, 0.0, 0.0]])
    nonfinite = np.array([[0, 0, 2], [0, 0, 0]])
    # step 0: means 0, 1, 8/2 = 4; layer mean 5/3 -> scores 0, 0.6, 2.4.
    scores = analysis.dormant_scores(count, abs_sum, nonfinite)
    np.testing.assert_allclose(scores[0], [0.0, 0.6, 2.4])
    # step 1: the whole layer outputs zeros -> every unit scores 0.
    np.testing.assert_array_equal(scores[1], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(analysis.dormant_counts(count, abs_sum, nonfinite, 0.6), [2, 3])
    np.testing.assert_array_equal(analysis.dormant_counts(count, abs_sum, nonfinite, 0.0), [1, 3])


def test_unit_without_finite_values_scores_nan():
    scores = analysis.dormant_scores(np.array([2]), np.array([[0.0, 2.0]]), np.array([[2, 0]]))
    assert math.isnan(scores[0, 0]) and scores[0, 1] == 1.0


def test_shape_errors_name_the_argument():
    with pytest.raises(ValueError, match="zeros"):
        analysis.dead_mask(COUNT, ZEROS[0])
    with pytest.raises(ValueError, match="count"):
        analysis.dead_mask(COUNT[:2], ZEROS)
    with pytest.raises(ValueError, match="tau"):
        analysis.dormant_counts(COUNT, ZEROS, ZEROS, -1)


def test_layer_mean_abs_averages_units_with_finite_values_and_is_nan_without_any():
    count = np.array([4, 4])
    abs_sum = np.array([[2.0, 6.0, 0.0], [1.0, 0.0, 0.0]])
    nonfinite = np.array([[0, 2, 4], [4, 4, 4]])
    # step 0: unit means 2/4, 6/2, unit 2 saw no finite value -> (0.5 + 3.0) / 2; step 1: none finite
    result = analysis.layer_mean_abs(count, abs_sum, nonfinite)
    assert result[0] == (0.5 + 3.0) / 2
    assert np.isnan(result[1])


# --------------------------------------------------------------------------
# golden vectors: the fixture the tab's JavaScript is checked against too

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "analysis_vectors.json")


def load_golden():
    with open(GOLDEN, encoding="utf-8") as f:
        return json.load(f)


def test_golden_defaults_are_the_analysis_defaults():
    defaults = load_golden()["defaults"]
    assert defaults == {"tau": analysis.DEFAULT_TAU, "nearly_dead_threshold": analysis.DEFAULT_NEARLY_DEAD_THRESHOLD}


def golden_case_ids():
    return [case["name"] for case in load_golden()["cases"]]


@pytest.mark.parametrize("name", golden_case_ids())
def test_golden_vectors(name):
    (case,) = [c for c in load_golden()["cases"] if c["name"] == name]
    inputs, want = case["inputs"], case["expected"]
    count = np.array(inputs["count"], dtype=np.int64)  # exact beyond 2**32
    zeros = np.array(inputs["zeros"], dtype=np.uint64)
    abs_sum = np.array(inputs["abs_sum"], dtype=np.float64)
    nonfinite = np.array(inputs["nonfinite"], dtype=np.uint64)
    steps = np.array(inputs["steps"], dtype=np.int64)
    dead = analysis.dead_mask(count, zeros)
    assert dead.tolist() == want["dead"]
    assert analysis.dead_counts(count, zeros).tolist() == want["dead_counts"]
    assert analysis.nearly_dead_counts(count, zeros, inputs["threshold"]).tolist() == want["nearly_dead_counts"]
    assert analysis.death_steps(steps, dead) == want["death_steps"]
    assert analysis.revived(dead).tolist() == want["revived"]
    assert analysis.still_dead_counts(dead).tolist() == want["still_dead_counts"]
    scores = analysis.dormant_scores(count, abs_sum, nonfinite)
    assert [[None if math.isnan(v) else v for v in row] for row in scores.tolist()] == want["dormant_scores"]
    assert analysis.dormant_counts(count, abs_sum, nonfinite, inputs["tau"]).tolist() == want["dormant_counts"]
    fractions = analysis.zero_fractions(count, zeros)
    assert [[None if math.isnan(v) else v for v in row] for row in fractions.tolist()] == want["zero_fractions"]
    assert analysis.first_fully_dead_step(steps, dead) == want["first_fully_dead_step"]
    # The one per-layer summary agrees with the single rules.
    summary = analysis.summarize_layer(
        SimpleNamespace(steps=steps, count=count, zeros=zeros, abs_sum=abs_sum, nonfinite=nonfinite),
        inputs["threshold"], inputs["tau"],
    )
    assert summary.dead.tolist() == want["dead_counts"] and summary.dormant.tolist() == want["dormant_counts"]
    assert summary.nearly_dead.tolist() == want["nearly_dead_counts"]
    assert summary.still_dead.tolist() == want["still_dead_counts"]
    assert summary.death_steps() == want["death_steps"] and summary.revived.tolist() == want["revived"]
    assert summary.first_fully_dead_step == want["first_fully_dead_step"]


def test_golden_vectors_were_checked_by_hand_for_these_cases():
    """A few expectations spelled out, so a regenerated fixture cannot silently change them."""
    cases = {c["name"]: c["expected"] for c in load_golden()["cases"]}
    big = cases["count_above_2_to_the_32"]
    assert big["dead"][0] == [True, False, False] and big["nearly_dead_counts"] == [2, 2]
    assert big["zero_fractions"][0] == [1.0, 1 - 1 / 16e9, 0.5]
    nonfinite = cases["nonfinite_values"]
    assert nonfinite["dead"] == [[False, False, True, False]] and nonfinite["dormant_scores"] == [[0.0, None, 0.0, 3.0]]
    revive = cases["a_unit_revives_and_dies_again"]
    assert revive["death_steps"] == [20, None, None] and revive["revived"] == [False, True, False]
    silent = cases["all_zero_layer_is_all_dormant"]
    assert silent["dormant_scores"] == [[0.0, 0.0], [0.5, 1.5]] and silent["dormant_counts"] == [2, 1]
    assert cases["threshold_boundaries"]["nearly_dead_counts"] == [2, 1]


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "x", None])
def test_tau_outside_range_is_rejected_by_name(bad):
    with pytest.raises(ValueError, match="tau must be a finite number >= 0"):
        analysis.check_tau(bad)
