"""The tab's colours in Python, for pictures drawn without a browser (``deadrelu report --plot``).

One port of ``frontend/colors.js`` (and of the cell rule of ``frontend/heatmap.js``'s
``paint``): the same stops, the same linear interpolation in float64 and the
same rounding (JavaScript's ``Math.round``, half up, not Python's half-even
``round``). Both are checked against ``tests/golden/color_vectors.json``
(written from the JavaScript by ``tests/golden/make_color_vectors.mjs``), so a
PNG and the tab show a cell in the same colour.

Functions take numpy arrays (any shape) and return uint8 arrays with a trailing
RGB axis; they import nothing but numpy.
"""

import numpy as np

# Colour stops (position, (r, g, b)) of the heatmap's sequential scale (ColorBrewer "Blues"):
# pale = the unit rarely outputs zero, dark blue = nearly silent.
SCALE_STOPS = ((0.0, (247, 251, 255)), (0.5, (107, 174, 214)), (1.0, (8, 48, 107)))
# A unit dead in that record (zero on every input).
DEAD_RGB = (230, 81, 0)
# Zero fraction at or above the "nearly dead" threshold but not dead.
NEARLY_DEAD_RGB = (255, 183, 77)
# Nothing was observed for the unit (or layer) at that step.
NO_DATA_RGB = (224, 224, 224)
# Whole-network view: a layer with no unit dead at that step.
NONE_GONE_RGB = (247, 251, 255)
# Whole-network view: stops (share, (r, g, b)) for a share of dead units above 0 (ColorBrewer "YlOrBr").
SHARE_STOPS = ((0.0, (255, 237, 160)), (0.5, (254, 153, 41)), (1.0, (153, 52, 4)))


def _interpolate(stops, x):
    """``[..., 3]`` uint8: the colour at ``x`` (float64, already clamped to [0, 1]) of ``stops``."""
    at = np.array([p for p, _ in stops], dtype=np.float64)
    rgb = np.array([c for _, c in stops], dtype=np.float64)
    # The first stop i >= 1 with x <= at[i] (colors.js walks the stops the same way).
    i = np.clip(np.searchsorted(at, x, side="left"), 1, len(at) - 1)
    f = (x - at[i - 1]) / (at[i] - at[i - 1])
    low, high = rgb[i - 1], rgb[i]
    value = low + f[..., None] * (high - low)
    return np.floor(value + 0.5).astype(np.uint8)  # Math.round for values >= 0


def scale_rgb(t):
    """``[..., 3]`` uint8: the heatmap scale at ``t`` (clamped to [0, 1]; NaN as 0)."""
    t = np.asarray(t, dtype=np.float64)
    t = np.where(t > 0, np.where(t < 1, t, 1.0), 0.0)  # NaN -> 0, as colors.js
    return _interpolate(SCALE_STOPS, t)


def share_rgb(share):
    """``[..., 3]`` uint8: the whole-network colour of a layer with ``share`` of its units dead.

    NONE_GONE_RGB for 0 (or NaN, as in colors.js's ``shareInto``), else the
    SHARE_STOPS interpolation (a single dead unit of thousands must not look
    like none, hence the jump at 0). For a cell with no record use
    :func:`network_rgb`.
    """
    share = np.asarray(share, dtype=np.float64)
    gone = share > 0
    out = _interpolate(SHARE_STOPS, np.where(gone, np.minimum(share, 1.0), 0.0))
    out[~gone] = NONE_GONE_RGB
    return out


def network_rgb(shares):
    """``[..., 3]`` uint8: the whole-network view's cells: :func:`share_rgb`, NO_DATA_RGB where NaN."""
    shares = np.asarray(shares, dtype=np.float64)
    out = share_rgb(shares)
    out[np.isnan(shares)] = NO_DATA_RGB
    return out


def heatmap_rgb(fractions, dead, nearly_dead_threshold):
    """``[..., 3]`` uint8: the layer heatmap's cells under the zeros metric, as the tab paints them.

    Args:
      fractions: Share of each cell's values that were exactly 0 (NaN where
        nothing was observed), e.g. ``analysis.zero_fractions``. The tab holds
        them as float32; so does this function before comparing.
      dead: Boolean mask of the same shape (``analysis.dead_mask``): DEAD_RGB.
      nearly_dead_threshold: Fractions at or above it (not dead) get NEARLY_DEAD_RGB.
    """
    fractions = np.asarray(fractions, dtype=np.float32).astype(np.float64)
    dead = np.asarray(dead, dtype=bool)
    out = scale_rgb(fractions)
    with np.errstate(invalid="ignore"):
        out[fractions >= nearly_dead_threshold] = NEARLY_DEAD_RGB
    out[np.isnan(fractions)] = NO_DATA_RGB
    out[dead] = DEAD_RGB
    return out
