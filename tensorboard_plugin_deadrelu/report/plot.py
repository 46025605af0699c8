"""``deadrelu report --plot OUTDIR``: the tab's heatmaps as PNG files, without a browser.

Per run, ``OUTDIR/<run>/network.png`` (layers x steps, coloured by the share of
the layer's units dead, as the tab's whole-network view) and one
``OUTDIR/<run>/<layer>.png`` per layer (units x steps, coloured by the share of
zero outputs as the tab's heatmap: dead cells orange, nearly dead light
orange, no data grey). Colours come from ``core/colors.py``, the port of
``frontend/colors.js``; dead/nearly-dead from ``core/analysis.py``.

matplotlib (the ``[plot]`` extra) is imported only here and only when
plotting, through its Agg canvas (no display, no pyplot state). Every cell is
an exact block of ``cell_width x cell_height`` pixels at a known place
(:func:`geometry`), so a picture can be checked pixel by pixel.
"""

import os
import re

import numpy as np

from tensorboard_plugin_deadrelu.core import analysis
from tensorboard_plugin_deadrelu.core import colors
from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.core import ordering
from tensorboard_plugin_deadrelu.report import logdir_reader

INSTALL_HINT = 'pip install "tensorboard-plugin-deadrelu[plot]"'
DPI = 100
# Margins in pixels around the image area: layer names / unit numbers on the
# left, the title above, step numbers below.
LEFT, TOP, BOTTOM, MIN_RIGHT = 140, 36, 44, 16
MIN_WIDTH = 420
# The image area aims at about this many pixels per axis; a cell is never
# smaller than one pixel nor larger than MAX_CELL.
TARGET_PIXELS = 600
MAX_CELL = 24
NETWORK_FILE = "network"

_UNSAFE = re.compile(r'[/\\:*?"<>|]')


class PlotError(Exception):
    """matplotlib is missing (or a picture cannot be drawn); the message says what to do."""


def check_matplotlib():
    """Raises PlotError naming the ``[plot]`` extra when matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotError("--plot needs matplotlib, which is not installed: %s" % INSTALL_HINT) from None


def safe_name(name):
    """``name`` as one file or folder name: ``/\\:*?"<>|`` become ``_`` (``.`` and ``..`` too)."""
    name = _UNSAFE.sub("_", name)
    if name.strip(".") == "":
        name = name.replace(".", "_") or "_"
    return name


def _unique(name, used):
    """``name``, or ``name_2``, ``name_3``... when two names sanitise alike; remembered in ``used``."""
    candidate, n = name, 1
    while candidate.lower() in used:  # also apart on case-insensitive file systems
        n += 1
        candidate = "%s_%d" % (name, n)
    used.add(candidate.lower())
    return candidate


def geometry(rows, cols):
    """Where the cells of a ``rows x cols`` picture are, in pixels of the PNG.

    Returns a dict: ``width``, ``height`` (of the PNG), ``left``, ``top`` (of
    the image area), ``cell_width``, ``cell_height``; cell (r, c) covers
    columns ``left + c*cell_width`` .. ``+cell_width-1`` and rows
    ``top + r*cell_height`` .. ``+cell_height-1`` (row 0 at the top).
    """
    cell_width = int(min(MAX_CELL, max(1, TARGET_PIXELS // max(cols, 1))))
    cell_height = int(min(MAX_CELL, max(1, TARGET_PIXELS // max(rows, 1))))
    width = max(MIN_WIDTH, LEFT + cols * cell_width + MIN_RIGHT)
    height = TOP + rows * cell_height + BOTTOM
    return {"width": width, "height": height, "left": LEFT, "top": TOP,
            "cell_width": cell_width, "cell_height": cell_height}


def network_cells(layers):
    """The whole-network grid of one run's activation series (in model order).

    Returns ``(steps [C], shares [len(layers), C])``: the union of the
    layers' steps, and per layer and step the share of its units dead there
    (NaN where the layer has no record with something observed).
    """
    steps = np.unique(np.concatenate([np.asarray(s.steps, np.int64) for s in layers])) if layers else np.zeros(0, np.int64)
    shares = np.full((len(layers), steps.shape[0]), np.nan)
    for row, series in enumerate(layers):
        if series.units == 0:
            continue
        dead = analysis.dead_counts(series.count, series.zeros)
        columns = np.searchsorted(steps, series.steps)
        observed = np.asarray(series.count) > 0
        shares[row, columns[observed]] = dead[observed] / series.units
    return steps, shares


def layer_cells(series, threshold=analysis.DEFAULT_NEARLY_DEAD_THRESHOLD):
    """``[units, steps, 3]`` uint8: one layer's heatmap cells, the tab's colours (zeros metric)."""
    fractions = analysis.zero_fractions(series.count, series.zeros)
    dead = analysis.dead_mask(series.count, series.zeros)
    return colors.heatmap_rgb(fractions.T, dead.T, threshold)


def _ticks(n, at_most):
    """Up to ``at_most`` evenly spaced indices of ``range(n)`` with a round stride, always 0."""
    if n <= 0:
        return []
    raw = max(1.0, (n - 1) / max(at_most - 1, 1))
    magnitude = 10 ** int(np.floor(np.log10(raw)))
    stride = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw - 1e-9)
    return list(range(0, n, int(stride)))


def draw(rgb, path, title, row_labels, step_labels, row_ticks=None):
    """Writes ``rgb`` (``[rows, cols, 3]`` uint8) as a PNG at ``path`` with the cells at :func:`geometry`.

    ``row_labels``/``step_labels``: text per row/column; ``row_ticks``: the
    rows that get a label (default: up to 40, evenly spaced).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, cols = rgb.shape[:2]
    box = geometry(rows, cols)
    width, height = box["width"], box["height"]
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_axes([
        box["left"] / width,
        (height - box["top"] - rows * box["cell_height"]) / height,
        cols * box["cell_width"] / width,
        rows * box["cell_height"] / height,
    ])
    axes.imshow(rgb, interpolation="nearest", aspect="auto", origin="upper",
                extent=(-0.5, cols - 0.5, rows - 0.5, -0.5), resample=False)
    for spine in axes.spines.values():
        spine.set_visible(False)  # a frame would paint over the outer cells
    # No tick marks: a mark on the edge would blend into the outer cells' pixels.
    axes.tick_params(labelsize=7, length=0, pad=3)
    x_ticks = _ticks(cols, 8)
    axes.set_xticks(x_ticks)
    axes.set_xticklabels([step_labels[i] for i in x_ticks])
    axes.set_xlabel("step", fontsize=8)
    y_ticks = row_ticks if row_ticks is not None else _ticks(rows, 40)
    axes.set_yticks(y_ticks)
    axes.set_yticklabels([row_labels[i] for i in y_ticks])
    figure.suptitle(title, fontsize=8, x=0.01, y=1 - 6 / height, ha="left", va="top")
    figure.savefig(path, dpi=DPI, format="png")


def plot_run(contents, run_dir):
    """Writes one run's network.png and one PNG per layer into ``run_dir``; returns the paths."""
    layers = [
        s for s in contents.series
        if s.kind == metadata.KIND_ACTIVATIONS and s.steps.shape[0]
    ]
    layers.sort(key=lambda s: ordering.model_order_key(s.order, s.tag))
    if not layers:
        return []
    os.makedirs(run_dir, exist_ok=True)
    written = []
    steps, shares = network_cells(layers)
    path = os.path.join(run_dir, NETWORK_FILE + ".png")
    names = [s.tag for s in layers]
    draw(
        colors.network_rgb(shares), path,
        "%s: share of each layer's units dead (grey: no record)" % contents.run,
        ["%s (%d)" % (name, s.units) for name, s in zip(names, layers)],
        [str(int(step)) for step in steps],
    )
    written.append(path)
    used = {NETWORK_FILE}
    for series in layers:
        path = os.path.join(run_dir, _unique(safe_name(series.tag), used) + ".png")
        dead_now = int(analysis.dead_counts(series.count[-1:], series.zeros[-1:])[0])
        draw(
            layer_cells(series), path,
            "%s / %s: %d of %d units dead at step %d (orange); colour = share of zero outputs"
            % (contents.run, series.tag, dead_now, series.units, int(series.steps[-1])),
            [str(u) for u in range(series.units)],
            [str(int(step)) for step in series.steps],
        )
        written.append(path)
    return written


def plot_runs(logdir, runs, outdir):
    """Reads ``runs`` (names as in the report) of ``logdir`` one at a time and plots each
    into ``outdir/<safe run name>/``; returns the paths written, in order.

    Raises:
      PlotError: matplotlib is not installed.
    """
    check_matplotlib()
    found = logdir_reader.find_runs(logdir)
    chosen = {run: found[run] for run in runs if run in found}
    reader = logdir_reader.choose_reader(chosen) if chosen else "python"
    written, used = [], set()
    for run, paths in chosen.items():
        contents = logdir_reader.read_run(run, paths, reader)
        written += plot_run(contents, os.path.join(outdir, _unique(safe_name(run), used)))
    return written
