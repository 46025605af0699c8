"""Recycling dead units (ReDo, Sokar et al. 2023) on the article's nets, and on a task where units keep dying.

Two experiments:

* ``redo``: the article's one-unit net and three-layer net over model seeds
  (the seed sweep's seeds ``0..N-1``, same data), four arms each: plain ReLU,
  ReLU recycled after every epoch (``DeadReluMonitor(recycle=ReDo(tau=0.0))``:
  the units the epoch's probe found dead), leaky ReLU and the article's SELU
  (lecun_normal, AlphaDropout(0.1)). Runs ``redo/<arm>/seed_<k>``, trained by
  the runner like every other variant; :func:`summaries` counts the nets that
  died and stalled, with 95% Wilson intervals.
* ``nonstationary``: a small regression net whose target changes every few
  epochs (a new random linear function of the inputs each phase, the setting
  in which Sokar et al. saw the dormant share rise), without recycling and
  with ReDo after every epoch on dead (``tau=0``) or τ-dormant
  (``tau=0.025``) units, over several seeds. It records the dormant and dead
  shares of the hidden units after every epoch and the validation loss right
  after each change of target and at the end of each phase.
"""

import dataclasses
import json
import math
import os
import sys

import numpy as np

from experiments import stats, variants

REDO_EXPERIMENT = "redo"
NONSTATIONARY_EXPERIMENT = "nonstationary"

# {arm: (what it asks, Variant keyword arguments)}, one-unit arms first.
ARMS = {
    "one_unit_relu": ("The one-unit ReLU net", {"units": variants.ONE_UNIT}),
    "one_unit_relu_redo": ("The one-unit ReLU net, ReDo after every epoch (dead units)",
                           {"units": variants.ONE_UNIT, "recycle_tau": 0.0}),
    "one_unit_leaky_relu": ("The one-unit net, leaky ReLU (slope 0.2)",
                            {"units": variants.ONE_UNIT, "activation": "leaky_relu"}),
    "one_unit_selu": ("The one-unit net, SELU with lecun_normal and AlphaDropout(0.1)",
                      {"units": variants.ONE_UNIT, "activation": "selu", "kernel_initializer": "lecun_normal",
                       "alpha_dropout": 0.1}),
    "three_layers_relu": ("Three ReLU layers of 8 units", {}),
    "three_layers_relu_redo": ("Three ReLU layers of 8 units, ReDo after every epoch (dead units)",
                               {"recycle_tau": 0.0}),
    "three_layers_leaky_relu": ("Three layers, leaky ReLU (slope 0.2)", {"activation": "leaky_relu"}),
    "three_layers_selu": ("Three layers, SELU with lecun_normal and AlphaDropout(0.1)",
                          {"activation": "selu", "kernel_initializer": "lecun_normal", "alpha_dropout": 0.1}),
}


def sweep(seeds, arms=None):
    """The ``redo`` variants: per arm (default: all of :data:`ARMS`), model seeds ``0..seeds-1``."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError("seeds must be a positive int, got %r" % (seeds,))
    width = max(2, len(str(seeds - 1)))
    found = []
    for arm, (question, kwargs) in ARMS.items():
        if arms is not None and arm not in arms:
            continue
        for seed in range(seeds):
            found.append(variants.Variant(
                REDO_EXPERIMENT, "%s/seed_%0*d" % (arm, width, seed), "%s, model seed %d" % (question, seed),
                model_seed=seed, **kwargs,
            ))
    return found


def arm_of(variant):
    """The ``redo`` arm a variant belongs to, or None."""
    return variant.name.split("/")[0] if variant.experiment == REDO_EXPERIMENT else None


def summaries(rows, settings_by_run):
    """Per ``redo`` arm (in :data:`ARMS` order), what its nets did.

    A net *died* when one of its hidden layers has every unit dead at the
    last record (for the one-unit net: the unit): the output is then a
    constant. (With ReDo that record is the one whose dead units are then
    recycled: a net counted as died there got its units re-drawn after the
    last epoch, too late to learn anything.) *Stalled*: validation R² below
    ``results.STALLED_R2``.

    Returns:
      ``[{"arm", "runs", "died", "stalled", "died_interval", "stalled_interval", "median_r2",
      "recycled"}]``; ``recycled`` is None here (filled by the caller from the records).
    """
    by_run = {}
    for row in rows:
        variant = variants.Variant(**settings_by_run[row["run"]]["variant"])
        arm = arm_of(variant)
        if arm is None:
            continue
        entry = by_run.setdefault(row["run"], {"arm": arm, "died": False, "val_r2": row["val_r2"],
                                               "stalled": bool(row["stalled"])})
        entry["died"] |= row["dead_end"] == row["units"]
    by_arm = {}
    for run in by_run.values():
        entry = by_arm.setdefault(run["arm"], {"arm": run["arm"], "runs": 0, "died": 0, "stalled": 0, "r2": []})
        entry["runs"] += 1
        entry["died"] += run["died"]
        entry["stalled"] += run["stalled"]
        entry["r2"].append(run["val_r2"])
    found = []
    for arm in ARMS:
        if arm not in by_arm:
            continue
        entry = by_arm[arm]
        r2 = [v for v in entry.pop("r2") if not math.isnan(v)]
        entry["median_r2"] = float(np.median(r2)) if r2 else math.nan
        entry["died_interval"] = stats.wilson_interval(entry["died"], entry["runs"])
        entry["stalled_interval"] = stats.wilson_interval(entry["stalled"], entry["runs"])
        entry["recycled"] = None
        found.append(entry)
    return found


def recycled_units(logdir, run):
    """How many units the run's ``<layer>/recycled`` records reset in all (0 without ReDo)."""
    from experiments import results
    from tensorboard_plugin_deadrelu.core import metadata
    from tensorboard_plugin_deadrelu.report import logdir_reader

    contents = logdir_reader.read_run(run, results.event_files(os.path.join(logdir, run)))
    return int(sum(int(np.sum(s.zeros)) for s in contents.series if s.kind == metadata.KIND_RECYCLED))


def format_table(entries):
    """The markdown table of :func:`summaries` (with ``recycled`` filled)."""

    def share(count, runs, interval):
        return "%d/%d (%.0f%%)" % (count, runs, 100 * count / runs), "%.0f%%–%.0f%%" % (
            100 * interval[0], 100 * interval[1])

    lines = [
        "| arm | runs | died (a layer all dead at the end) | 95% interval | stalled (val R² < 0.05) "
        "| 95% interval | median val R² | units recycled (all runs) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in entries:
        died, died_ci = share(e["died"], e["runs"], e["died_interval"])
        stalled, stalled_ci = share(e["stalled"], e["runs"], e["stalled_interval"])
        r2 = "n/a" if math.isnan(e["median_r2"]) else "%.3f" % e["median_r2"]
        lines.append("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
            e["arm"], e["runs"], died, died_ci, stalled, stalled_ci, r2,
            "–" if e["recycled"] is None else e["recycled"]))
    return "\n".join(lines) + "\n"


# -- the non-stationary task ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NonStationary:
    """Sizes of the non-stationary task.

    Attributes:
      rows: Training rows (a quarter as many validation rows).
      phases: How many targets follow one another.
      epochs_per_phase: Epochs trained on each target.
      seeds: Model and target seeds ``0..seeds-1``.
    """

    rows: int = 2000
    phases: int = 4
    epochs_per_phase: int = 3
    seeds: int = 3
    features: int = 8
    units: tuple = (32, 32)
    batch_size: int = 32
    learning_rate: float = 0.01


QUICK = NonStationary()
FULL = NonStationary(rows=10000, phases=8, epochs_per_phase=5, seeds=10)

# {arm: ReDo tau, or None for no recycling}
NONSTATIONARY_ARMS = {"no_recycling": None, "redo_dead": 0.0, "redo_dormant_0.025": 0.025}
DORMANT_TAU = 0.025
SUMMARY_FILE = "summary.json"


def _phase_targets(sizes, seed):
    rng = np.random.default_rng(1000 + seed)
    x = rng.normal(size=(sizes.rows + sizes.rows // 4, sizes.features)).astype("float32")
    weights = rng.normal(size=(sizes.phases, sizes.features)).astype("float32")
    ys = [(x @ w / math.sqrt(sizes.features))[:, None].astype("float32") for w in weights]
    return x[:sizes.rows], x[sizes.rows:], [y[:sizes.rows] for y in ys], [y[sizes.rows:] for y in ys]


def hidden_shares(hidden_model, x_val):
    """``(dormant share, dead share)`` of all hidden units on ``x_val``, by the analysis module's rules."""
    from tensorboard_plugin_deadrelu.core import analysis

    outputs = hidden_model(x_val, training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    dormant = dead = units = 0
    for a in outputs:
        a = np.asarray(a, dtype=np.float64)
        count, zeros = a.shape[0], (a == 0).sum(axis=0)
        abs_sum, nonfinite = np.abs(a).sum(axis=0), np.zeros(a.shape[1], np.int64)
        dormant += len(analysis.recyclable_units(count, zeros, abs_sum, nonfinite, DORMANT_TAU))
        dead += len(analysis.recyclable_units(count, zeros, abs_sum, nonfinite, 0.0))
        units += a.shape[1]
    return dormant / units, dead / units


def train_nonstationary(arm, tau, seed, sizes, run_dir):
    """Trains one net through all phases; returns its per-epoch shares and per-phase losses."""
    import keras

    from tensorboard_plugin_deadrelu.keras import DeadReluMonitor, ReDo

    x, x_val, ys, ys_val = _phase_targets(sizes, seed)
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((sizes.features,))
    hidden, names, outputs = inputs, [], []
    for index, units in enumerate(sizes.units, start=1):
        hidden = keras.layers.Dense(units, activation="relu", name="hidden_%d" % index)(hidden)
        names.append("hidden_%d" % index)
        outputs.append(hidden)
    model = keras.Model(inputs, keras.layers.Dense(1, name="y")(hidden))
    model.compile(optimizer=keras.optimizers.Adam(sizes.learning_rate), loss="mse")
    hidden_model = keras.Model(inputs, outputs)
    monitor = DeadReluMonitor(run_dir, run=None, layers=names, probe_data=x_val,
                              recycle=None if tau is None else ReDo(tau=tau, seed=seed))
    shares = []

    class Shares(keras.callbacks.Callback):
        # Placed before the monitor: it sees the epoch's weights before any recycling.
        def on_epoch_end(self, epoch, logs=None):
            shares.append(hidden_shares(hidden_model, x_val))

    phases = []
    for phase in range(sizes.phases):
        variance = float(np.var(ys_val[phase]))
        before = float(model.evaluate(x_val, ys_val[phase], verbose=0)) / variance
        start = phase * sizes.epochs_per_phase
        model.fit(x, ys[phase], epochs=start + sizes.epochs_per_phase, initial_epoch=start,
                  batch_size=sizes.batch_size, verbose=0, callbacks=[Shares(), monitor])
        after = float(model.evaluate(x_val, ys_val[phase], verbose=0)) / variance
        phases.append({"loss_after_change": before, "loss_end_of_phase": after})
    return {"arm": arm, "seed": seed, "shares": shares, "phases": phases}


def run_nonstationary(logdir, sizes=QUICK, out=sys.stdout):
    """Trains every arm and seed of the non-stationary task into ``logdir/nonstationary``
    (skipped when its summary exists with the same sizes); returns the summary."""
    folder = os.path.join(logdir, NONSTATIONARY_EXPERIMENT)
    path = os.path.join(folder, SUMMARY_FILE)
    wanted = dataclasses.asdict(sizes)
    wanted["units"] = list(wanted["units"])
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            found = json.load(f)
        if found.get("sizes") == wanted:
            print("%s: complete, skipped" % NONSTATIONARY_EXPERIMENT, file=out, flush=True)
            return found
        raise ValueError("logdir %r holds the non-stationary task made with other sizes; use another --logdir" % logdir)
    runs = []
    for arm, tau in NONSTATIONARY_ARMS.items():
        for seed in range(sizes.seeds):
            run_dir = os.path.join(folder, arm, "seed_%02d" % seed)
            runs.append(train_nonstationary(arm, tau, seed, sizes, run_dir))
            last = runs[-1]
            print("%s/%s/seed_%02d: dormant share at the end %.2f, loss after last change %.3f -> %.3f"
                  % (NONSTATIONARY_EXPERIMENT, arm, seed, last["shares"][-1][0],
                     last["phases"][-1]["loss_after_change"], last["phases"][-1]["loss_end_of_phase"]),
                  file=out, flush=True)
    summary = {"sizes": wanted, "tau_dormant": DORMANT_TAU, "runs": runs}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    return summary


def format_nonstationary(summary):
    """Markdown: per arm, mean over seeds of the dormant/dead shares at each phase's end, and the losses."""
    sizes = summary["sizes"]
    k = sizes["epochs_per_phase"]
    arms = list(dict.fromkeys(r["arm"] for r in summary["runs"]))
    lines = [
        "Net: %s ReLU units, Adam %g, batch %d, %d training rows of %d N(0, 1) features; a new random linear "
        "target every %d epochs, %d phases, seeds 0..%d. Dormant: score <= %g (the tab's τ-dormant rule); loss: "
        "validation MSE / variance of that phase's target (1 = a constant prediction). Means over seeds; shares "
        "are measured after each epoch, before that epoch's recycling.\n"
        % ("-".join(map(str, sizes["units"])), sizes["learning_rate"], sizes["batch_size"], sizes["rows"],
           sizes["features"], k, sizes["phases"], sizes["seeds"] - 1, summary["tau_dormant"]),
        "| arm | " + " | ".join("phase %d" % (p + 1) for p in range(sizes["phases"])) + " |",
        "|---|" + "---:|" * sizes["phases"],
    ]

    def mean(values):
        return float(np.mean(values))

    for what, pick in (
        ("dormant share at phase end", lambda r, p: r["shares"][(p + 1) * k - 1][0]),
        ("dead share at phase end", lambda r, p: r["shares"][(p + 1) * k - 1][1]),
        ("loss right after the change", lambda r, p: r["phases"][p]["loss_after_change"]),
        ("loss at phase end", lambda r, p: r["phases"][p]["loss_end_of_phase"]),
    ):
        for arm in arms:
            runs = [r for r in summary["runs"] if r["arm"] == arm]
            cells = ["%.3f" % mean([pick(r, p) for r in runs]) for p in range(sizes["phases"])]
            lines.append("| %s: %s | %s |" % (arm, what, " | ".join(cells)))
    return "\n".join(lines) + "\n"
