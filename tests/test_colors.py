"""core/colors.py paints as the tab does: checked against tests/golden/color_vectors.json,
which tests/golden/make_color_vectors.mjs writes from frontend/colors.js (and which
tests/frontend/colors.test.mjs reads too)."""

import json
import os

import numpy as np
import pytest

from tensorboard_plugin_deadrelu.core import colors

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "color_vectors.json")
with open(GOLDEN, encoding="utf-8") as f:
    VECTORS = json.load(f)


def value(x):
    return float(x)  # "NaN", "Infinity", "-Infinity" or a number


def test_fixed_colours_are_the_tabs():
    assert list(colors.DEAD_RGB) == VECTORS["dead_rgb"]
    assert list(colors.NEARLY_DEAD_RGB) == VECTORS["nearly_dead_rgb"]
    assert list(colors.NO_DATA_RGB) == VECTORS["no_data_rgb"]
    assert list(colors.NONE_GONE_RGB) == VECTORS["none_gone_rgb"]


@pytest.mark.parametrize("kind, function", [("scale", colors.scale_rgb), ("share", colors.share_rgb)])
def test_every_golden_value_gets_the_tabs_rgb(kind, function):
    pairs = VECTORS[kind]
    assert len(pairs) > 100
    for x, rgb in pairs:  # one at a time
        assert function(value(x)).tolist() == rgb, (kind, x)
    # and all at once, as the plots call them
    got = function(np.array([value(x) for x, _ in pairs]))
    assert got.tolist() == [rgb for _, rgb in pairs]


def test_heatmap_cells_follow_the_tabs_paint_rule():
    fractions = np.array([1.0, 0.995, np.nan, 0.25, 0.0, 0.99])
    dead = np.array([True, False, False, False, False, False])
    got = colors.heatmap_rgb(fractions, dead, 0.99).tolist()
    assert got == [list(colors.DEAD_RGB), list(colors.NEARLY_DEAD_RGB), list(colors.NO_DATA_RGB),
                   [177, 213, 235], [247, 251, 255], list(colors.NEARLY_DEAD_RGB)]


def test_network_cells_without_a_record_are_no_data_grey():
    assert colors.network_rgb([np.nan, 0.0, 1.0]).tolist() == [
        list(colors.NO_DATA_RGB), list(colors.NONE_GONE_RGB), [153, 52, 4]]
