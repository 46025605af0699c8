"""The result table, generated from the event files of a log folder.

Everything in ``results.md`` and ``results.csv`` is read back from the runs'
event files with TensorBoard's own event accumulator and decoded with
:func:`tensorboard_plugin_deadrelu.metadata.decode_record`, never taken from
the training process, so the table shows what TensorBoard shows. Steps are
epochs completed (step 0 = initial weights), as the Dead ReLU monitor writes
them with ``update_freq="epoch"``. Only the run's settings (for the list of
runs) come from its ``run.json``.

One row per (run, hidden layer):

* ``final_loss``, ``final_val_loss``: the last ``epoch_loss`` and
  ``epoch_val_loss`` scalars;
* ``dead_step0``, ``dead_end``: units that output exactly zero on every probe
  input (the whole validation set) with the initial and the final weights;
* ``first_dead_epoch``: the first epoch after which every unit of the layer
  was dead (0 = born dead; empty = never);
* ``max_zero_share_end``: the largest share of probe inputs on which one unit
  output exactly zero, with the final weights (0 for SELU, tanh, sigmoid and
  leaky ReLU, which never output an exact zero);
* ``min_dormant_score_end``: the smallest tau-dormant score of Sokar et al.
  (2023) with the final weights, a unit's mean |activation| over the layer's
  average; it says how close to silent the least active unit is, also for
  activations that never output zero.
"""

import csv
import json
import math
import os

import numpy as np

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.util import tensor_util

from tensorboard_plugin_deadrelu import analysis, metadata

RESULTS_MD = "results.md"
RESULTS_CSV = "results.csv"
RUN_INFO_FILE = "run.json"

COLUMNS = (
    "run",
    "layer",
    "units",
    "final_loss",
    "final_val_loss",
    "dead_step0",
    "dead_end",
    "dead_share_step0",
    "dead_share_end",
    "first_dead_epoch",
    "max_zero_share_end",
    "min_dormant_score_end",
    "epochs",
)


def find_runs(logdir):
    """Complete runs under ``logdir`` (folders with a ``run.json``), as
    ``{run name: folder}``, skipping what an interrupted run left in ``.incomplete``."""
    runs = {}
    for folder, subfolders, files in os.walk(logdir):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        if RUN_INFO_FILE in files:
            runs[os.path.relpath(folder, logdir).replace(os.sep, "/")] = folder
    return runs


def read_run(run_dir):
    """Reads one run's event files.

    Returns:
      ``(scalars, records)``: ``{tag: [(step, value)]}`` for scalar summaries
      and ``{tag: [(step, metadata.Record)]}`` for Dead ReLU records, each
      sorted by step; ``records`` is ordered as the layers are in the model.
    """
    accumulator = plugin_event_accumulator.EventAccumulator(
        run_dir, size_guidance={event_accumulator.TENSORS: 0}  # 0 keeps every step
    )
    accumulator.Reload()
    scalars, records, layer_order = {}, {}, {}
    for tag in accumulator.Tags()[event_accumulator.TENSORS]:
        plugin_data = accumulator.SummaryMetadata(tag).plugin_data
        events = sorted(accumulator.Tensors(tag), key=lambda e: e.step)
        if plugin_data.plugin_name == metadata.PLUGIN_NAME:
            layer_order[tag] = metadata.parse_plugin_content(plugin_data.content).order
            records[tag] = [
                (e.step, metadata.decode_record(tensor_util.make_ndarray(e.tensor_proto))) for e in events
            ]
        elif plugin_data.plugin_name == "scalars":
            scalars[tag] = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in events]
    by_model_order = sorted(records, key=lambda tag: (layer_order[tag] is None, layer_order[tag] or 0, tag))
    return scalars, {tag: records[tag] for tag in by_model_order}


def read_settings(run_dir):
    """The settings a run was made with (its ``run.json``)."""
    with open(os.path.join(run_dir, RUN_INFO_FILE), encoding="utf-8") as f:
        return json.load(f)


def layer_rows(run, run_dir):
    """The table rows of one run, one per hidden layer, in layer order."""
    settings = read_settings(run_dir)
    scalars, records = read_run(run_dir)

    def last(tag):
        series = scalars.get(tag)
        return series[-1][1] if series else math.nan

    rows = []
    for tag, series in records.items():
        steps = np.array([step for step, _ in series])
        count = np.array([r.count for _, r in series])
        zeros = np.stack([r.zeros for _, r in series])
        abs_sum = np.stack([r.abs_sum for _, r in series])
        nonfinite = np.stack([r.nonfinite for _, r in series])
        dead = analysis.dead_mask(count, zeros)
        units = zeros.shape[1]
        first_dead_epoch = analysis.first_fully_dead_step(steps, dead)
        final = series[-1][1]
        rows.append(
            {
                "run": run,
                "layer": tag,
                "units": units,
                "final_loss": last("epoch_loss"),
                "final_val_loss": last("epoch_val_loss"),
                "dead_step0": int(dead[0].sum()),
                "dead_end": int(dead[-1].sum()),
                "dead_share_step0": float(dead[0].mean()),
                "dead_share_end": float(dead[-1].mean()),
                "first_dead_epoch": first_dead_epoch,
                "max_zero_share_end": float((final.zeros / final.count).max()),
                "min_dormant_score_end": float(
                    np.nanmin(analysis.dormant_scores(count[-1:], abs_sum[-1:], nonfinite[-1:]))
                ),
                "epochs": settings["epochs"],
            }
        )
    return rows


def collect_rows(logdir, order=None):
    """Rows of every complete run under ``logdir``; runs in ``order`` come first, in that order."""
    runs = find_runs(logdir)
    order = list(order or [])
    names = [r for r in order if r in runs] + sorted(r for r in runs if r not in order)
    rows = []
    for run in names:
        rows.extend(layer_rows(run, runs[run]))
    return rows


def _csv_value(value):
    return "" if value is None else value


def _fmt_share(part, units):
    return "%d/%d" % (part, units)


def _fmt_fraction(value):
    # Rounded down, so that a unit silent on 99.99% of inputs never shows as 1.
    return "%.4f" % (math.floor(value * 10000) / 10000)


def _fmt_loss(value):
    return "n/a" if math.isnan(value) else "%.4f" % value


def format_markdown(rows):
    """The markdown table of ``rows``, one line per (run, layer)."""
    lines = [
        "| run | layer | units | final loss | final val loss | dead at step 0 "
        "| dead at end | first epoch all dead | max zero share (end) | min dormant score (end) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |"
            % (
                row["run"],
                row["layer"],
                row["units"],
                _fmt_loss(row["final_loss"]),
                _fmt_loss(row["final_val_loss"]),
                _fmt_share(row["dead_step0"], row["units"]),
                _fmt_share(row["dead_end"], row["units"]),
                "never" if row["first_dead_epoch"] is None else row["first_dead_epoch"],
                _fmt_fraction(row["max_zero_share_end"]),
                _fmt_fraction(row["min_dormant_score_end"]),
            )
        )
    return "\n".join(lines) + "\n"


def format_runs(runs):
    """A markdown list of the runs: what each asks and at what size it ran."""
    lines = []
    for run, settings in runs:
        lines.append(
            "- `%s`: %s (%d samples, %d epochs, batch %d)"
            % (run, settings["variant"]["question"], settings["samples"], settings["epochs"], settings["batch_size"])
        )
    return "\n".join(lines) + "\n"


def write_results(logdir):
    """Writes ``results.md`` and ``results.csv`` for every complete run in ``logdir``.

    Returns:
      The path of ``results.md``.
    """
    from experiments import variants  # the order of the known runs

    rows = collect_rows(logdir, order=[v.run for v in variants.VARIANTS])
    runs = []
    for row in rows:
        if not runs or runs[-1][0] != row["run"]:
            runs.append((row["run"], read_settings(os.path.join(logdir, row["run"]))))
    with open(os.path.join(logdir, RESULTS_CSV), "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _csv_value(row[key]) for key in COLUMNS})
    md_path = os.path.join(logdir, RESULTS_MD)
    with open(md_path, "w", encoding="utf-8") as f:
        f.write("# Dead ReLU experiments: results\n\n")
        f.write(
            "Generated from the event files in this folder. Dead = outputs exactly 0 on every "
            "input of the probe (the whole validation set); step 0 = initial weights; "
            "epoch N = after N epochs. Dormant score = a unit's mean |activation| divided by its "
            "layer's average (Sokar et al. 2023); 0 = silent.\n\n"
        )
        if runs:
            f.write(
                "Seed %s, Adam (learning rate %s), MSE loss, target `%s`, inputs uniform(-1, 0).\n\n"
                % (runs[0][1]["seed"], runs[0][1]["learning_rate"], runs[0][1]["target"])
            )
        f.write(format_runs(runs))
        f.write("\n")
        f.write(format_markdown(rows))
    return md_path
