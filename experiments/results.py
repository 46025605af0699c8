"""The result table, generated from the event files of a log folder.

Everything in ``results.md`` and ``results.csv`` is read back from the runs'
event files, never taken from the training process: the Dead ReLU records
and the loss scalars with the project's own reader
(:mod:`tensorboard_plugin_deadrelu.report.logdir_reader`, the one ``deadrelu report``
uses; it stacks records as the tab does and needs no TensorFlow). Steps are
epochs completed (step 0 = initial weights), as the Dead ReLU monitor writes
them with ``update_freq="epoch"``. Only the run's settings (for the list of runs) come
from its ``run.json``.

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
  activations that never output zero;
* ``zero_gradient_step0``, ``zero_gradient_end``: units whose gradient
  d(loss)/d(pre-activation) was exactly zero on every probe input, with the
  initial and the final weights (the layer's ``<layer>/gradients`` records);
* ``mean_abs_gradient_step0``, ``mean_abs_gradient_end``: the layer's mean
  |d(loss)/d(pre-activation)| (the mean over units of each unit's mean over
  the probe, as the tab's overview computes it);
* ``min_unit_mean_abs_gradient_end``: the smallest of those per-unit means
  with the final weights: 0 for a unit that gets no gradient at all.

* ``mean_abs_gradient_epoch1``, ``mean_abs_gradient_epoch5``: the same
  after the first and the fifth epoch (the gradient table: how it moves);
* ``last_death_epoch``: the last epoch from which a unit stayed dead to the
  end (empty: none is dead at the end); ``results.md`` also counts the dead
  units after epochs 1, 5, 10 and 25 (the horizon of the article's plots);
* ``val_r2``: ``1 - final_val_loss / var(validation targets)``, the share of
  the target's variance the net explains (0 = no better than a constant);
* ``stalled``: ``val_r2 < STALLED_R2``.

The gradient columns are empty for a layer without gradient records.

The seed sweep (runs ``seeds/<sweep>/seed_<k>``) gets a table of its own:
per sweep, how many of its one-unit nets *died* (the unit dead at the end:
exactly 0 on every validation input with the final weights, the project's
dead definition) and how many *stalled*, with 95% Wilson score intervals.
"""

import csv
import json
import math
import os

import numpy as np

from tensorboard.util import tensor_util

from tensorboard_plugin_deadrelu.core import analysis
from tensorboard_plugin_deadrelu.report import logdir_reader
from tensorboard_plugin_deadrelu.core import metadata

from experiments import stats

RESULTS_MD = "results.md"
RESULTS_CSV = "results.csv"
RUN_INFO_FILE = "run.json"
# The scalars the runner writes (see runner._make_loss_writer_callback).
LOSS_TAGS = ("epoch_loss", "epoch_val_loss")
# A fit that explains less than this share of the target's variance on the
# validation rows has stalled: it predicts (almost) a constant. A dead
# one-unit net explains 0; a living one explains ~0.99 of the article target
# and ~0.4 of the ripple target (all the linear part it can reach).
STALLED_R2 = 0.05

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
    "zero_gradient_step0",
    "zero_gradient_end",
    "zero_gradient_share_step0",
    "zero_gradient_share_end",
    "mean_abs_gradient_step0",
    "mean_abs_gradient_end",
    "min_unit_mean_abs_gradient_end",
    "mean_abs_gradient_epoch1",
    "mean_abs_gradient_epoch5",
    "last_death_epoch",
    "val_r2",
    "stalled",
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


def records_folder(run_dir):
    """The folder at or under ``run_dir`` that holds the run's event files.

    The Dead ReLU monitor writes into its ``log_dir`` or into a subfolder of
    it (like ``keras.callbacks.TensorBoard``'s ``train``); the runner puts the
    loss scalars beside its records, so there is exactly one such folder: the
    variant's run in TensorBoard. ``run_dir`` itself when there is none yet.

    Raises:
      ValueError: naming the folders, if event files are in more than one
        (TensorBoard would show the variant as several runs).
    """
    folders = []
    for folder, subfolders, files in os.walk(run_dir):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        if any(logdir_reader.is_event_file(name) for name in files):
            folders.append(folder)
    if len(folders) > 1:
        raise ValueError(
            "run folder %r has event files in %d folders (%s); one variant must be one run"
            % (run_dir, len(folders), ", ".join(folders))
        )
    return folders[0] if folders else run_dir


def event_files(run_dir):
    """The event files of one run (in its :func:`records_folder`), oldest first."""
    folder = records_folder(run_dir)
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder)) if logdir_reader.is_event_file(name)]


def read_layers(run, run_dir):
    """Reads one run's Dead ReLU records.

    Returns:
      ``[(activations, gradients)]`` in model order: per hidden layer its
      activation ``series.Series`` and its gradient ``Series`` (None when the
      layer has no gradient records).

    Raises:
      ValueError: naming the run, if a record or an event file could not be
        read; the table would silently leave it out.
    """
    contents = logdir_reader.read_run(run, event_files(run_dir))
    problems = ["%s: %s" % (d.path, d.reason) for d in contents.damaged_files]
    problems += ["%s step %d: %s" % (s.tag, s.step, s.reason) for s in contents.skipped]
    problems += [
        "%s step %d: %s" % (series.tag, skipped.step, skipped.reason)
        for series in contents.series
        for skipped in series.skipped
    ]
    if problems:
        raise ValueError("run %r has records that cannot be read: %s" % (run, "; ".join(problems)))
    by_tag = {s.tag: s for s in contents.series}
    return [
        (s, by_tag.get(metadata.gradients_tag(s.tag)))
        for s in contents.series
        if s.kind == metadata.KIND_ACTIVATIONS
    ]


def read_loss_scalars(run, run_dir):
    """``{tag: [(step, value)]}`` of the loss scalars in a run folder, sorted by step.

    The runner writes each (tag, step) once; if a step appears again, the
    later file wins, as in TensorBoard.

    Raises:
      ValueError: naming the run, if an event file is damaged.
    """
    values = {tag: {} for tag in LOSS_TAGS}
    damaged = []
    for path in event_files(run_dir):
        for event in logdir_reader.read_events(path, damaged):
            for value in event.summary.value:
                if value.tag in values:
                    values[value.tag][event.step] = float(tensor_util.make_ndarray(value.tensor))
    if damaged:
        problems = ["%s: %s" % (d.path, d.reason) for d in damaged]
        raise ValueError("run %r has event files that cannot be read: %s" % (run, "; ".join(problems)))
    return {tag: sorted(by_step.items()) for tag, by_step in values.items() if by_step}


def read_settings(run_dir):
    """The settings a run was made with (its ``run.json``)."""
    with open(os.path.join(run_dir, RUN_INFO_FILE), encoding="utf-8") as f:
        return json.load(f)


def _finite_min(values):
    """Smallest of the non-NaN ``values`` (NaN when there are none)."""
    seen = values[~np.isnan(values)]
    return float(seen.min()) if seen.size else math.nan


def gradient_columns(gradients):
    """The gradient columns of a layer's row (None/NaN when it has no gradient records)."""
    if gradients is None or gradients.num_steps == 0:
        return {
            "mean_abs_gradient_epoch1": math.nan,
            "mean_abs_gradient_epoch5": math.nan,
            "zero_gradient_step0": None,
            "zero_gradient_end": None,
            "zero_gradient_share_step0": None,
            "zero_gradient_share_end": None,
            "mean_abs_gradient_step0": math.nan,
            "mean_abs_gradient_end": math.nan,
            "min_unit_mean_abs_gradient_end": math.nan,
        }
    # The overview's gradient summary: units with an exactly-zero gradient on every probe
    # input (the dead rule applied to the gradient record) and the layer's mean |gradient|.
    summary = analysis.summarize_gradients(gradients)
    zero, layer_means, units = summary.zero, summary.mean_abs, gradients.units
    # Per step and unit: the unit's mean |gradient| over the probe (NaN if none was finite).
    unit_means = analysis.mean_abs(gradients.count, gradients.abs_sum, gradients.nonfinite)
    steps = list(gradients.steps)

    def at_step(step):
        return float(layer_means[steps.index(step)]) if step in steps else math.nan

    return {
        "mean_abs_gradient_epoch1": at_step(1),
        "mean_abs_gradient_epoch5": at_step(5),
        "zero_gradient_step0": int(zero[0]),
        "zero_gradient_end": int(zero[-1]),
        "zero_gradient_share_step0": float(zero[0] / units),
        "zero_gradient_share_end": float(zero[-1] / units),
        "mean_abs_gradient_step0": float(layer_means[0]),
        "mean_abs_gradient_end": float(layer_means[-1]),
        "min_unit_mean_abs_gradient_end": _finite_min(unit_means[-1]),
    }


def layer_rows(run, run_dir):
    """The table rows of one run, one per hidden layer, in layer order."""
    settings = read_settings(run_dir)
    layers = read_layers(run, run_dir)
    scalars = read_loss_scalars(run, run_dir)

    def last(tag):
        series = scalars.get(tag)
        return series[-1][1] if series else math.nan

    variance = settings.get("val_target_variance")
    val_r2 = 1 - last("epoch_val_loss") / variance if variance else math.nan

    rows = []
    for activations, gradients in layers:
        # The same per-layer summary as the tab's overview and `deadrelu report`.
        summary = analysis.summarize_layer(activations)
        dead, units = summary.dead, activations.units
        final_count = activations.count[-1]
        row = {
            "run": run,
            "layer": activations.tag,
            "units": activations.units,
            "final_loss": last("epoch_loss"),
            "final_val_loss": last("epoch_val_loss"),
            "dead_step0": int(dead[0]),
            "dead_end": int(dead[-1]),
            "dead_share_step0": float(dead[0] / units),
            "dead_share_end": float(dead[-1] / units),
            "first_dead_epoch": summary.first_fully_dead_step,
            "dead_by_epoch": {int(step): int(n) for step, n in zip(summary.steps, dead)},
            "last_death_epoch": max((s for s in summary.death_steps() if s is not None), default=None),
            "max_zero_share_end": float((activations.zeros[-1] / final_count).max()),
            "min_dormant_score_end": float(
                np.nanmin(
                    analysis.dormant_scores(
                        activations.count[-1:], activations.abs_sum[-1:], activations.nonfinite[-1:]
                    )
                )
            ),
            "val_r2": val_r2,
            "stalled": None if math.isnan(val_r2) else bool(val_r2 < STALLED_R2),
            "epochs": settings["epochs"],
        }
        row.update(gradient_columns(gradients))
        rows.append(row)
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
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def _fmt_share(part, units):
    return "n/a" if part is None else "%d/%d" % (part, units)


def _fmt_fraction(value):
    # Rounded down, so that a unit silent on 99.99% of inputs never shows as 1.
    return "%.4f" % (math.floor(value * 10000) / 10000)


def _fmt_loss(value):
    return "n/a" if math.isnan(value) else "%.4f" % value


def _fmt_gradient(value):
    # Gradients span orders of magnitude; an exact 0 (no gradient at all) shows as 0.
    if math.isnan(value):
        return "n/a"
    return "0" if value == 0 else "%.2e" % value


def _fmt_r2(value):
    return "n/a" if math.isnan(value) else "%.3f" % value


MARKDOWN_HEADER = (
    "| run | layer | final loss | final val loss | val R² | dead at step 0 | dead at end "
    "| first epoch all dead | max zero share (end) | min dormant score (end) "
    "| zero gradient at step 0 | zero gradient at end | mean abs gradient (end) "
    "| min unit mean abs gradient (end) |"
)


def format_markdown_row(row):
    """One line of the markdown table."""
    units = row["units"]
    return "| %s |" % " | ".join(
        (
            row["run"],
            row["layer"],
            _fmt_loss(row["final_loss"]),
            _fmt_loss(row["final_val_loss"]),
            _fmt_r2(row["val_r2"]),
            _fmt_share(row["dead_step0"], units),
            _fmt_share(row["dead_end"], units),
            "never" if row["first_dead_epoch"] is None else str(row["first_dead_epoch"]),
            _fmt_fraction(row["max_zero_share_end"]),
            _fmt_fraction(row["min_dormant_score_end"]),
            _fmt_share(row["zero_gradient_step0"], units),
            _fmt_share(row["zero_gradient_end"], units),
            _fmt_gradient(row["mean_abs_gradient_end"]),
            _fmt_gradient(row["min_unit_mean_abs_gradient_end"]),
        )
    )


def format_markdown(rows):
    """The markdown table of ``rows``, one line per (run, layer)."""
    lines = [MARKDOWN_HEADER, "|---|---|" + "---:|" * 12]
    lines.extend(format_markdown_row(row) for row in rows)
    return "\n".join(lines) + "\n"


GRADIENT_HEADER = (
    "| run | layer | val R² | mean abs gradient at step 0 | after epoch 1 | after epoch 5 | at the end "
    "| end / step 0 | end / RMS val error |"
)


def format_gradient_table(rows):
    """How each layer's mean |d(loss)/d(pre-activation)| moves over training, for rows that have it.

    The last column divides the final gradient by the final root mean squared
    validation error: a per-example gradient is the error times what flows
    back from the output to the unit, so this ratio is that backward factor,
    free of how well the net fits. A vanishing gradient shows as a small
    ratio; a gradient that is small only because the error is small does not.
    """
    lines = [GRADIENT_HEADER, "|---|---|" + "---:|" * 7]
    for row in rows:
        if math.isnan(row["mean_abs_gradient_step0"]):
            continue
        first, end = row["mean_abs_gradient_step0"], row["mean_abs_gradient_end"]
        ratio = "n/a" if not first else "%.3g" % (end / first)
        rms_error = math.sqrt(row["final_val_loss"]) if row["final_val_loss"] >= 0 else math.nan
        per_error = "n/a" if not rms_error or math.isnan(rms_error) else "%.3g" % (end / rms_error)
        lines.append(
            "| %s | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                row["run"], row["layer"], _fmt_r2(row["val_r2"]), _fmt_gradient(first),
                _fmt_gradient(row["mean_abs_gradient_epoch1"]), _fmt_gradient(row["mean_abs_gradient_epoch5"]),
                _fmt_gradient(end), ratio, per_error,
            )
        )
    return "\n".join(lines) + "\n"


# The epochs at which the deaths table counts dead units (besides the last).
DEATH_TABLE_EPOCHS = (0, 1, 5, 10, 25)

DEATHS_HEADER = (
    "| run | layer | dead at step 0 | after epoch 1 | after epoch 5 | after epoch 10 | after epoch 25 "
    "| at the end | last epoch a unit died for good |"
)


def format_deaths_table(rows):
    """Per layer, its dead units after given epochs, and the last epoch from which a unit stayed dead."""
    lines = [DEATHS_HEADER, "|---|---|" + "---:|" * 7]
    for row in rows:
        by_epoch = row["dead_by_epoch"]
        counts = ["%d/%d" % (by_epoch[e], row["units"]) if e in by_epoch else "n/a" for e in DEATH_TABLE_EPOCHS]
        last = row["last_death_epoch"]
        lines.append(
            "| %s | %s | %s | %d/%d | %s |"
            % (row["run"], row["layer"], " | ".join(counts), row["dead_end"], row["units"],
               "none" if last is None else str(last))
        )
    return "\n".join(lines) + "\n"


def sweep_summaries(rows, settings_by_run):
    """Per seed sweep (in order of appearance), what its one-unit nets did.

    Returns:
      ``[{"sweep", "runs", "born_dead", "died", "stalled", "stalled_alive",
      "died_seeds", "died_interval", "stalled_interval"}]``: counts of runs
      whose unit was dead at step 0, dead at the end ("died"), whose fit
      stalled (validation R² below :data:`STALLED_R2`), and that stalled with
      the unit alive; the model seeds that died; 95% Wilson intervals of the
      shares that died and stalled; ``fit_r2``, the median validation R² of
      the runs that did not stall (NaN if all did): what the net reaches
      when its unit lives.
    """
    from experiments import variants

    by_sweep = {}
    for row in rows:
        variant = variants.Variant(**settings_by_run[row["run"]]["variant"])
        sweep = variants.sweep_of(variant)
        if sweep is None:
            continue
        entry = by_sweep.setdefault(sweep, {"sweep": sweep, "runs": 0, "born_dead": 0, "died": 0,
                                            "stalled": 0, "stalled_alive": 0, "died_seeds": [], "fit": []})
        died = row["dead_end"] == row["units"]
        entry["runs"] += 1
        entry["born_dead"] += row["dead_step0"] == row["units"]
        entry["died"] += died
        entry["stalled"] += bool(row["stalled"])
        entry["stalled_alive"] += bool(row["stalled"]) and not died
        if died:
            entry["died_seeds"].append(variant.model_seed)
        if row["stalled"] is False:
            entry["fit"].append(row["val_r2"])
    summaries = list(by_sweep.values())
    for entry in summaries:
        entry["fit_r2"] = float(np.median(entry.pop("fit"))) if entry["fit"] else math.nan
        entry["died_interval"] = stats.wilson_interval(entry["died"], entry["runs"])
        entry["stalled_interval"] = stats.wilson_interval(entry["stalled"], entry["runs"])
    return summaries


SWEEP_HEADER = (
    "| sweep | runs | unit dead at step 0 | died (dead at end) | 95%% interval | stalled (val R² < %g) "
    "| 95%% interval | stalled with the unit alive | median val R² of the others | seeds that died |" % STALLED_R2
)


def format_sweep_table(summaries):
    """The markdown table of :func:`sweep_summaries`."""

    def share(count, runs, interval):
        return "%d/%d (%.0f%%)" % (count, runs, 100 * count / runs), "%.0f%%–%.0f%%" % (
            100 * interval[0], 100 * interval[1])

    lines = [SWEEP_HEADER, "|---|" + "---:|" * 8 + "---|"]
    for entry in summaries:
        died, died_ci = share(entry["died"], entry["runs"], entry["died_interval"])
        stalled, stalled_ci = share(entry["stalled"], entry["runs"], entry["stalled_interval"])
        lines.append(
            "| %s | %d | %d | %s | %s | %s | %s | %d | %s | %s |"
            % (
                entry["sweep"], entry["runs"], entry["born_dead"], died, died_ci, stalled, stalled_ci,
                entry["stalled_alive"], _fmt_r2(entry["fit_r2"]), ", ".join(map(str, entry["died_seeds"])) or "none",
            )
        )
    return "\n".join(lines) + "\n"


def _describe_settings(settings, base_learning_rate):
    """What sets a run apart from the common settings, e.g. ``"target ripple, learning rate 0.001"``."""
    variant = settings["variant"]
    notes = []
    if variant.get("target", "article") != "article":
        notes.append("target %s" % variant["target"])
    if settings.get("standardize"):
        notes.append("standardised inputs")
    if settings["learning_rate"] != base_learning_rate:
        notes.append("learning rate %g" % settings["learning_rate"])
    return "".join(", " + note for note in notes)


def format_runs(runs, base_learning_rate=None):
    """A markdown list of the runs: what each asks and at what size it ran."""
    lines = []
    for run, settings in runs:
        lines.append(
            "- `%s`: %s (%d samples, %d epochs, batch %d%s)"
            % (
                run, settings["variant"]["question"], settings["samples"], settings["epochs"],
                settings["batch_size"], _describe_settings(settings, base_learning_rate),
            )
        )
    return "\n".join(lines) + "\n"


def write_results(logdir):
    """Writes ``results.md`` and ``results.csv`` for every complete run in ``logdir``.

    Returns:
      The path of ``results.md``.
    """
    from experiments import data, variants  # the order of the known runs, the targets

    # The article's variants, then the seed sweep, then the rest (the ReDo comparison).
    sweep_runs = sorted(r for r in find_runs(logdir) if r.startswith(variants.SEEDS_EXPERIMENT + "/"))
    rows = collect_rows(logdir, order=[v.run for v in variants.VARIANTS] + sweep_runs)
    settings_by_run = {}
    for row in rows:
        if row["run"] not in settings_by_run:
            settings_by_run[row["run"]] = read_settings(os.path.join(logdir, row["run"]))
    from experiments import redo

    in_sweep = {
        run for run, settings in settings_by_run.items()
        if variants.sweep_of(variants.Variant(**settings["variant"])) is not None
    }
    in_redo = {
        run for run, settings in settings_by_run.items()
        if redo.arm_of(variants.Variant(**settings["variant"])) is not None
    }
    with open(os.path.join(logdir, RESULTS_CSV), "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _csv_value(row[key]) for key in COLUMNS})
    main_rows = [row for row in rows if row["run"] not in in_sweep | in_redo]
    runs = [(run, settings) for run, settings in settings_by_run.items() if run not in in_sweep | in_redo]
    md_path = os.path.join(logdir, RESULTS_MD)
    with open(md_path, "w", encoding="utf-8") as f:
        f.write("# Dead ReLU experiments: results\n\n")
        f.write(
            "Generated from the event files in this folder. Dead = outputs exactly 0 on every "
            "input of the probe (the whole validation set); step 0 = initial weights; "
            "epoch N = after N epochs. Dormant score = a unit's mean |activation| divided by its "
            "layer's average (Sokar et al. 2023); 0 = silent. Zero gradient = units whose "
            "d(loss)/d(pre-activation) was exactly 0 on every probe input; mean abs gradient = the "
            "layer's mean over units of each unit's mean |d(loss)/d(pre-activation)| over the probe "
            "(loss = sum of per-example squared errors). Val R² = 1 - final val loss / variance of "
            "the validation targets (0 = no better than a constant).\n\n"
        )
        base_learning_rate = None
        if settings_by_run:
            first = next(iter(settings_by_run.values()))
            base_learning_rate = first["learning_rate"]
            f.write(
                "Data seed %s, Adam (learning rate %s unless a run says otherwise), MSE loss, "
                "inputs uniform(-1, 0). Targets: %s.\n\n"
                % (
                    first["seed"], base_learning_rate,
                    "; ".join("%s: `%s`" % (name, t.formula) for name, t in data.TARGETS.items()),
                )
            )
        f.write(format_runs(runs, base_learning_rate))
        f.write("\n")
        f.write(format_markdown(main_rows))
        f.write(
            "\n## Gradients over epochs\n\nPer layer, the mean abs gradient "
            "d(loss)/d(pre-activation) on the validation set, with the initial weights, after "
            "epochs 1 and 5, and at the end.\n\n"
        )
        f.write(format_gradient_table(main_rows))
        f.write(
            "\n## Dead units over epochs\n\nPer layer, its dead units after given epochs (n/a: the run "
            "is shorter), and the last epoch from which a unit stayed dead to the end (none: no unit "
            "is dead at the end).\n\n"
        )
        f.write(format_deaths_table(main_rows))
        summaries = sweep_summaries(rows, settings_by_run)
        if summaries:
            sizes = sorted({(s["samples"], s["epochs"]) for r, s in settings_by_run.items() if r in in_sweep})
            f.write(
                "\n## Seed sweep\n\nThe one-unit net trained once per model seed (initial weights, "
                "batch order) on the same data (%s). Died = the unit is dead at the end: exactly 0 on "
                "every validation input with the final weights. Stalled = the validation R² at the end "
                "is below %g: the net predicts (almost) a constant. Intervals: 95%% Wilson score "
                "intervals of the share. Sweeps: %s.\n\n"
                % (
                    "; ".join("%d samples, %d epochs" % size for size in sizes), STALLED_R2,
                    "; ".join(
                        "%s = %s" % (name, question) for name, (question, _) in variants.SEED_SWEEPS.items()
                    ),
                )
            )
            f.write(format_sweep_table(summaries))
        redo_entries = redo.summaries(rows, settings_by_run)
        if redo_entries:
            for entry in redo_entries:
                entry["recycled"] = sum(
                    redo.recycled_units(logdir, run) for run in in_redo
                    if redo.arm_of(variants.Variant(**settings_by_run[run]["variant"])) == entry["arm"]
                )
            sizes = sorted({(s["samples"], s["epochs"]) for r, s in settings_by_run.items() if r in in_redo})
            f.write(
                "\n## Recycling dead units (ReDo)\n\nDoes recycling rescue the nets that die? The one-unit and "
                "three-layer nets over the seed sweep's model seeds (%s), plain ReLU, ReLU with ReDo after every "
                "epoch (the units the epoch's probe found dead get fresh incoming weights and zero outgoing "
                "weights and Adam moments), leaky ReLU and SELU. Died = a hidden layer has every unit dead at "
                "the last record (the output is a constant; with ReDo, before that record's recycling). "
                "Stalled = validation R² below %g. Intervals: 95%% Wilson score intervals.\n\n"
                % ("; ".join("%d samples, %d epochs" % size for size in sizes), STALLED_R2)
            )
            f.write(redo.format_table(redo_entries))
        summary_path = os.path.join(logdir, redo.NONSTATIONARY_EXPERIMENT, redo.SUMMARY_FILE)
        if os.path.exists(summary_path):
            with open(summary_path, encoding="utf-8") as g:
                summary = json.load(g)
            f.write("\n## A non-stationary task: do units keep dying, and does ReDo help?\n\n")
            f.write(redo.format_nonstationary(summary))
    return md_path
