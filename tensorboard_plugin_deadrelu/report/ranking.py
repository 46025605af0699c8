"""The runs of a report, one row each, ranked: which of hundreds of runs lost the most units.

Built from the per-layer numbers of ``cli.build_report`` (those of the tab's
overview, ``core/analysis.py``), so a row adds up what the table shows per
layer; nothing here reads event files.
"""

import re

from tensorboard_plugin_deadrelu.core import ordering

# --sort choices -> (key of a row, descending?); ties by the one name order of runs.
SORT_COLUMNS = ("dead", "share", "worst", "first_death", "name")


class RankingError(ValueError):
    """A bad ``--runs`` pattern or ``--top``; the message names the option."""


def compile_runs_pattern(pattern):
    """``re.compile(pattern)``, or RankingError naming ``--runs`` when it is no regular expression."""
    try:
        return re.compile(pattern)
    except re.error as e:
        raise RankingError("--runs %r is not a valid regular expression: %s" % (pattern, e)) from None


def run_rows(layers):
    """One row per run (in the order the runs first appear in ``layers``), JSON-ready.

    Args:
      layers: The ``layers`` of a report built with ``first_dead_steps=True``.

    A row: ``run``; ``layers``; ``units`` (over the layers); ``latest_step``
    (the largest of the layers'); ``dead`` / ``dead_share`` (units dead at
    each layer's latest step, summed, and divided by ``units``);
    ``worst_layer`` / ``worst_layer_dead_share`` (the layer with the largest
    dead share at its latest step; the first in model order on a tie);
    ``first_dead_step`` (the first step at which any unit of the run was
    dead, null when none ever was); ``zero_gradient`` /
    ``zero_gradient_share`` (units whose gradient was exactly zero at their
    layer's latest gradient record, over the layers that have gradient
    records; null when none has).
    """
    runs = {}
    for layer in layers:
        runs.setdefault(layer["run"], []).append(layer)
    rows = []
    for run, run_layers in runs.items():
        units = sum(layer["units"] for layer in run_layers)
        dead = sum(layer["dead_now"] for layer in run_layers)
        worst = run_layers[0]
        for layer in run_layers[1:]:
            if layer["dead_now_share"] > worst["dead_now_share"]:
                worst = layer
        first_dead = [layer["first_dead_step"] for layer in run_layers if layer["first_dead_step"] is not None]
        with_gradients = [layer for layer in run_layers if layer["zero_gradient_now"] is not None]
        zero_gradient = sum(layer["zero_gradient_now"] for layer in with_gradients) if with_gradients else None
        gradient_units = sum(layer["units"] for layer in with_gradients)
        rows.append({
            "run": run,
            "layers": len(run_layers),
            "units": units,
            "latest_step": max(layer["latest_step"] for layer in run_layers),
            "dead": dead,
            "dead_share": dead / units if units else 0.0,
            "worst_layer": worst["layer"],
            "worst_layer_dead_share": worst["dead_now_share"],
            "first_dead_step": min(first_dead) if first_dead else None,
            "zero_gradient": zero_gradient,
            "zero_gradient_share": (
                None if zero_gradient is None else (zero_gradient / gradient_units if gradient_units else 0.0)
            ),
        })
    return rows


def sort_rows(rows, sort="dead", top=None):
    """``rows`` ranked by ``sort`` (one of :data:`SORT_COLUMNS`), the first ``top`` of them.

    Counts and shares rank descending, ``first_death`` ascending (runs where
    no unit died last), ``name`` by the one name order; ties always by the
    one name order of runs (``core/ordering.py``).
    """
    if sort not in SORT_COLUMNS:
        raise RankingError("--sort must be one of %s, got %r" % (", ".join(SORT_COLUMNS), sort))
    if top is not None and (not isinstance(top, int) or top < 1):
        raise RankingError("--top must be a whole number >= 1, got %r" % (top,))

    def key(row):
        name = ordering.natural_key(row["run"])
        if sort == "dead":
            return (-row["dead"], name)
        if sort == "share":
            return (-row["dead_share"], name)
        if sort == "worst":
            return (-row["worst_layer_dead_share"], name)
        if sort == "first_death":
            first = row["first_dead_step"]
            return (first is None, first if first is not None else 0, name)
        return (name,)

    ranked = sorted(rows, key=key)
    return ranked if top is None else ranked[:top]


_HEADER = ("#", "run", "layers", "units", "dead", "worst layer", "worst dead", "first death")
_GRADIENT_HEADER = "zero gradient"


def format_ranking(rows):
    """The ranked rows as an aligned plain-text table (one line per run)."""
    header = _HEADER
    lines = [
        (
            str(i),
            row["run"],
            str(row["layers"]),
            str(row["units"]),
            "%d (%.1f%%)" % (row["dead"], 100.0 * row["dead_share"]),
            row["worst_layer"],
            "%.1f%%" % (100.0 * row["worst_layer_dead_share"]),
            "never" if row["first_dead_step"] is None else str(row["first_dead_step"]),
        )
        for i, row in enumerate(rows, 1)
    ]
    if any(row["zero_gradient"] is not None for row in rows):
        header += (_GRADIENT_HEADER,)
        lines = [
            line + ("-" if row["zero_gradient"] is None
                    else "%d (%.1f%%)" % (row["zero_gradient"], 100.0 * row["zero_gradient_share"]),)
            for line, row in zip(lines, rows)
        ]
    widths = [max(len(line[i]) for line in lines + [header]) for i in range(len(header))]
    numeric = {0, 2, 3, 4, 6, 7, 8}
    return "\n".join(
        "  ".join(cell.rjust(w) if i in numeric else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
        for line in [header] + lines
    )
