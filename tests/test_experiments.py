"""The article's experiments at a tiny size: runs, records, the result table, restarts.

One tiny run of every variant (a module fixture) is checked against what the
event files hold, read back with TensorBoard's own loader (``tests/eventfiles``),
independently of the result table's reader (``logdir_reader``).
"""

import csv
import dataclasses
import math
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import experiments
from experiments import data, results, variants
from tensorboard_plugin_deadrelu.core import metadata

from tests import eventfiles

pytestmark = pytest.mark.slow  # starts processes: see tests/conftest.py

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Few samples, 2 epochs; small batches so that the one-unit net makes enough
# updates to die within 2 epochs; two model seeds per seed sweep.
TINY = variants.Scale(samples=3000, epochs=2, batch_size=16, seeds=2)
TINY_VAL_ROWS = TINY.samples - data.train_rows(TINY.samples)
# The runs these tests need: one of each kind of network and setting (one and
# three layers, an initialiser, negative weights, other activations, one-unit
# nets, each remedy, SELU, standardised inputs, another learning rate, the
# second target) and every seed sweep: 22 of the 37 runs a full run trains.
NEEDED = [
    "one_layer/relu", "three_layers/relu", "initializers/he_normal", "negative_weights/three_layers",
    "activations/tanh", "activations/leaky_relu", "activations/selu", "activations_one_unit/sigmoid", "remedies",
    "selu/one_unit", "selu/standardised", "relu_controls/lr_0.001", "ripple/three_layers", "ripple/selu",
    "seeds", "redo/three_layers_relu_redo",
]
ALL = variants.select(NEEDED, TINY.seeds)
QUESTIONS = {v.run: v.question for v in ALL}


@pytest.fixture(scope="module")
def tiny_logdir(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("article"))
    experiments.run(logdir, only=NEEDED, scale=TINY, out=open(os.devnull, "w"))
    return logdir


def _variant_run(logdir, run):
    """The variant a TensorBoard run (an event file's folder) belongs to: the
    nearest folder at or above it with a run.json (the monitor may write into
    a subfolder of the variant's folder)."""
    folder = os.path.join(logdir, run)
    while not os.path.isfile(os.path.join(folder, "run.json")):
        folder = os.path.dirname(folder)
        assert os.path.relpath(folder, logdir) != os.pardir, run
    return os.path.relpath(folder, logdir).replace(os.sep, "/")


def _read_records(logdir):
    """``eventfiles.read_records`` keyed by variant run instead of event folder."""
    return {(_variant_run(logdir, run), tag): series for (run, tag), series in eventfiles.read_records(logdir).items()}


@pytest.fixture(scope="module")
def tiny_records(tiny_logdir):
    return _read_records(tiny_logdir)


def _scalars(logdir):
    """``{(run, tag): [(step, value)]}`` of the scalar summaries, via TensorBoard's loader."""
    from tensorboard.util import tensor_util

    found = {}
    for run, event in eventfiles.read_events(logdir):
        for value in event.summary.value:
            if value.tag.startswith("epoch_"):
                found.setdefault((_variant_run(logdir, run), value.tag), []).append(
                    (event.step, float(tensor_util.make_ndarray(value.tensor)))
                )
    return found


def _val_rows(variant):
    samples = TINY.samples * variant.data_factor
    return samples - data.train_rows(samples)


def _kinds(logdir):
    """``{(run, tag): kind}`` from the Dead ReLU summary metadata in the event files."""
    kinds = {}
    for run, event in eventfiles.read_events(logdir):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == metadata.PLUGIN_NAME:
                kinds[(_variant_run(logdir, run), value.tag)] = metadata.parse_plugin_content(value.metadata.plugin_data.content).kind
    return kinds


def test_every_run_has_activation_and_gradient_records_per_hidden_layer_per_epoch_from_step_0(
    tiny_logdir, tiny_records
):
    expected = {}
    for variant in ALL:
        epochs = TINY.epochs * variant.epoch_factor
        steps = list(range(epochs + 1))  # epochs completed; 0 = initial weights
        for index, units in enumerate(variant.units, start=1):
            layer = "hidden_%d" % index
            for tag, kind in ((layer, "activations"), (layer + "/gradients", "gradients")):
                key = (variant.run, tag)
                expected[key] = kind
                series = tiny_records.get(key)
                assert series is not None, key
                assert [step for step, _ in series] == steps, key
                for _, record in series:
                    assert record.units == units
                    # The probe is the whole validation set.
                    assert record.count == _val_rows(variant)
    kinds = _kinds(tiny_logdir)
    # ReDo runs also have <layer>/recycled series where a record found dead units.
    recycling = {v.run for v in ALL if v.recycle_tau is not None}
    expected.update({key: kind for key, kind in kinds.items() if key[0] in recycling and kind == "recycled"})
    assert kinds == expected
    assert not os.path.exists(os.path.join(tiny_logdir, ".incomplete"))


def test_a_relu_output_of_zero_has_a_zero_gradient(tiny_records):
    # Where relu(z) = 0 (z <= 0), d(loss)/dz = 0: per unit and step, at least
    # as many zero gradients as zero outputs, on the same probe and weights.
    relu_runs = [v for v in ALL if v.activation == "relu"]
    for variant in relu_runs:
        for index in range(1, len(variant.units) + 1):
            layer = "hidden_%d" % index
            activations = tiny_records[(variant.run, layer)]
            gradients = tiny_records[(variant.run, layer + "/gradients")]
            for (step, act), (_, grad) in zip(activations, gradients):
                assert (grad.zeros >= act.zeros).all(), (variant.run, layer, step)


def test_every_run_has_loss_and_validation_loss_per_epoch(tiny_logdir):
    scalars = _scalars(tiny_logdir)
    for variant in ALL:
        epochs = TINY.epochs * variant.epoch_factor
        steps = list(range(1, epochs + 1))
        for tag in ("epoch_loss", "epoch_val_loss"):
            series = scalars[(variant.run, tag)]
            assert [step for step, _ in series] == steps
            assert all(math.isfinite(value) and value >= 0 for _, value in series)


def test_one_unit_relu_net_on_negative_inputs_ends_dead_with_zero_gradient(tiny_records):
    series = tiny_records[("one_layer/relu", "hidden_1")]
    first, last = series[0][1], series[-1][1]
    assert first.units == 1
    assert not first.dead[0]  # born alive ...
    assert last.dead[0]  # ... dead at the end: zero on every validation input
    assert last.zeros[0] == last.count == TINY_VAL_ROWS
    gradients = tiny_records[("one_layer/relu", "hidden_1/gradients")]
    first_gradient, last_gradient = gradients[0][1], gradients[-1][1]
    assert first_gradient.zeros[0] < first_gradient.count and first_gradient.abs_sum[0] > 0
    # The article's evidence: a dead unit gets exactly zero gradient on every input.
    assert last_gradient.zeros[0] == last_gradient.count == TINY_VAL_ROWS
    assert last_gradient.abs_sum[0] == 0


def test_selu_never_outputs_zero_on_every_input_and_keeps_a_nonzero_gradient(tiny_records):
    for index in range(1, len(variants.THREE_LAYERS) + 1):
        layer = "hidden_%d" % index
        for _, record in tiny_records[("activations/selu", layer)]:
            assert not record.dead.any()
            assert record.zeros.max() < record.count
        for _, record in tiny_records[("activations/selu", layer + "/gradients")]:
            assert record.zeros.max() < record.count  # no unit with an all-zero gradient
            assert (record.abs_sum > 0).all()  # every unit's mean |gradient| is positive


def _floor4(value):
    return "%.4f" % (math.floor(value * 10000) / 10000)


def _gradient_text(value):
    return "0" if value == 0 else "%.2e" % value


def _expected_rows(logdir, records):
    """The table's rows computed here from the raw records, with numpy only."""
    scalars = _scalars(logdir)
    rows = {}
    for variant in ALL:
        for index in range(1, len(variant.units) + 1):
            layer = "hidden_%d" % index
            series = records[(variant.run, layer)]
            dead = [rec.zeros == rec.count for _, rec in series]
            fully = [step for (step, _), d in zip(series, dead) if d.all()]
            final = series[-1][1]
            mean_abs = final.abs_sum / final.count
            gradients = [rec for _, rec in records[(variant.run, layer + "/gradients")]]
            # No NaN/Inf in these tiny runs, so every unit's mean is abs_sum / count.
            assert all(not rec.nonfinite.any() for rec in gradients)
            unit_gradient_first = gradients[0].abs_sum / gradients[0].count
            unit_gradient_last = gradients[-1].abs_sum / gradients[-1].count
            unit_gradient_epoch1 = gradients[1].abs_sum / gradients[1].count
            # The R² against the validation targets, drawn here again from the data module.
            y_val = data.make_dataset(TINY.samples * variant.data_factor, variants.SEED, variant.target).y_val
            val_r2 = 1 - scalars[(variant.run, "epoch_val_loss")][-1][1] / np.var(y_val, dtype=np.float64)
            rows[(variant.run, layer)] = {
                "units": final.units,
                "final_loss": scalars[(variant.run, "epoch_loss")][-1][1],
                "final_val_loss": scalars[(variant.run, "epoch_val_loss")][-1][1],
                "dead_step0": int(dead[0].sum()),
                "dead_end": int(dead[-1].sum()),
                "first_dead_epoch": fully[0] if fully else None,
                "max_zero_share_end": float((final.zeros / final.count).max()),
                "min_dormant_score_end": float(
                    (mean_abs / mean_abs.mean()).min() if mean_abs.mean() > 0 else 0.0
                ),
                "zero_gradient_step0": int((gradients[0].zeros == gradients[0].count).sum()),
                "zero_gradient_end": int((gradients[-1].zeros == gradients[-1].count).sum()),
                "mean_abs_gradient_step0": float(unit_gradient_first.mean()),
                "mean_abs_gradient_end": float(unit_gradient_last.mean()),
                "min_unit_mean_abs_gradient_end": float(unit_gradient_last.min()),
                "mean_abs_gradient_epoch1": float(unit_gradient_epoch1.mean()),
                "val_r2": val_r2,
                "dead": np.array(dead),
            }
    return rows


def _last_death(dead):
    """By hand: the last step from which a unit stayed dead to the end ("none" if no unit is dead at the end)."""
    steps = []
    for unit in range(dead.shape[1]):
        if dead[-1, unit]:
            start = len(dead) - 1
            while start > 0 and dead[start - 1, unit]:
                start -= 1
            steps.append(start)
    return str(max(steps)) if steps else "none"


def test_result_table_equals_the_records_it_was_made_from(tiny_logdir, tiny_records):
    expected = _expected_rows(tiny_logdir, tiny_records)
    with open(os.path.join(tiny_logdir, "results.csv"), newline="") as f:
        table = list(csv.DictReader(f))
    assert [(r["run"], r["layer"]) for r in table] == list(expected)
    markdown = open(os.path.join(tiny_logdir, "results.md")).read()
    for row in table:
        want = expected[(row["run"], row["layer"])]
        units = want["units"]
        assert int(row["units"]) == units
        assert float(row["final_loss"]) == pytest.approx(want["final_loss"], rel=1e-6)
        assert float(row["final_val_loss"]) == pytest.approx(want["final_val_loss"], rel=1e-6)
        assert int(row["dead_step0"]) == want["dead_step0"]
        assert int(row["dead_end"]) == want["dead_end"]
        assert float(row["dead_share_end"]) == want["dead_end"] / units
        assert row["first_dead_epoch"] == ("" if want["first_dead_epoch"] is None else str(want["first_dead_epoch"]))
        assert float(row["max_zero_share_end"]) == pytest.approx(want["max_zero_share_end"], abs=1e-12)
        assert float(row["min_dormant_score_end"]) == pytest.approx(want["min_dormant_score_end"], rel=1e-9)
        assert int(row["zero_gradient_step0"]) == want["zero_gradient_step0"]
        assert int(row["zero_gradient_end"]) == want["zero_gradient_end"]
        assert float(row["zero_gradient_share_end"]) == want["zero_gradient_end"] / units
        assert float(row["val_r2"]) == pytest.approx(want["val_r2"], rel=1e-6, abs=1e-9)
        assert row["stalled"] == str(want["val_r2"] < 0.05)
        assert row["mean_abs_gradient_epoch5"] == ""  # 2 epochs: there is no epoch 5
        for column in (
            "mean_abs_gradient_step0", "mean_abs_gradient_end", "min_unit_mean_abs_gradient_end",
            "mean_abs_gradient_epoch1",
        ):
            # The records hold float32 sums; the table averages them in float64.
            assert float(row[column]) == pytest.approx(want[column], rel=1e-6, abs=0), column
        first = "never" if want["first_dead_epoch"] is None else str(want["first_dead_epoch"])
        if row["run"].startswith(("seeds/", "redo/")):
            # The seed sweep and the ReDo comparison have tables of their own (see the sweep test), not a line per run.
            assert "`%s`" % row["run"] not in markdown and "| %s |" % row["run"] not in markdown
            continue
        line = "| %s | %s | %.4f | %.4f | %.3f | %d/%d | %d/%d | %s | %s | %s | %d/%d | %d/%d | %s | %s |" % (
            row["run"], row["layer"], want["final_loss"], want["final_val_loss"], want["val_r2"],
            want["dead_step0"], units, want["dead_end"], units, first,
            _floor4(want["max_zero_share_end"]), _floor4(want["min_dormant_score_end"]),
            want["zero_gradient_step0"], units, want["zero_gradient_end"], units,
            _gradient_text(want["mean_abs_gradient_end"]), _gradient_text(want["min_unit_mean_abs_gradient_end"]),
        )
        assert line in markdown
        assert "- `%s`: %s" % (row["run"], QUESTIONS[row["run"]]) in markdown
        first_gradient, end_gradient = want["mean_abs_gradient_step0"], want["mean_abs_gradient_end"]
        gradient_line = "| %s | %s | %.3f | %s | %s | n/a | %s | %s | %s |" % (
            row["run"], row["layer"], want["val_r2"], _gradient_text(first_gradient),
            _gradient_text(want["mean_abs_gradient_epoch1"]), _gradient_text(end_gradient),
            "%.3g" % (end_gradient / first_gradient) if first_gradient else "n/a",
            "%.3g" % (end_gradient / math.sqrt(want["final_val_loss"])),
        )
        assert gradient_line in markdown
        dead_counts = [int(d.sum()) for d in want["dead"]]
        deaths_line = "| %s | %s | %d/%d | %d/%d | n/a | n/a | n/a | %d/%d | %s |" % (
            row["run"], row["layer"], dead_counts[0], units, dead_counts[1], units, dead_counts[-1], units,
            _last_death(want["dead"]),
        )
        assert deaths_line in markdown
    # The one-unit net died in the table too (not only in the records), and
    # its gradient with it; SELU kept a gradient in every unit.
    one_unit = [r for r in table if r["run"] == "one_layer/relu"][0]
    assert one_unit["dead_step0"] == "0" and one_unit["dead_end"] == "1"
    assert one_unit["first_dead_epoch"] in ("1", "2")
    assert one_unit["zero_gradient_step0"] == "0" and one_unit["zero_gradient_end"] == "1"
    assert float(one_unit["mean_abs_gradient_end"]) == 0
    for selu in (r for r in table if r["run"] == "activations/selu"):
        assert selu["zero_gradient_end"] == "0" and float(selu["min_unit_mean_abs_gradient_end"]) > 0


def test_wilson_interval_matches_a_hand_computation():
    from experiments.stats import wilson_interval

    # 1 of 8, z = 1.96: p = 0.125, z² = 3.8415, centre = (0.125 + 0.24010) / 1.48019 = 0.24660,
    # half width = 1.96 * sqrt(0.125 * 0.875 / 8 + 3.8415 / 256) / 1.48019 = 0.22424.
    low, high = wilson_interval(1, 8)
    assert low == pytest.approx(0.02242, abs=1e-5) and high == pytest.approx(0.47089, abs=1e-5)
    # 0 of n: exactly 0 to z² / (n + z²); n of n mirrors it.
    assert wilson_interval(0, 10) == (0.0, pytest.approx(3.8415 / 13.8415, abs=1e-5))
    assert wilson_interval(10, 10) == (pytest.approx(10 / 13.8415, abs=1e-5), 1.0)
    assert wilson_interval(5, 10) == (pytest.approx(0.23659, abs=1e-5), pytest.approx(0.76341, abs=1e-5))
    with pytest.raises(ValueError, match="successes must be in"):
        wilson_interval(9, 8)
    with pytest.raises(ValueError, match="trials must be at least 1"):
        wilson_interval(0, 0)


def _sweep_line(logdir, records, scalars, sweep, seeds):
    """The sweep table's line for ``sweep``, computed here from the raw records and the data."""
    from experiments.stats import wilson_interval

    died, stalled, stalled_alive, born_dead, died_seeds, r2s = 0, 0, 0, 0, [], []
    y_val = data.make_dataset(TINY.samples, variants.SEED, variants.SEED_SWEEPS[sweep][1].get("target", "article")).y_val
    for seed in range(seeds):
        run = "seeds/%s/seed_%02d" % (sweep, seed)
        series = records[(run, "hidden_1")]
        born_dead += bool(series[0][1].zeros[0] == series[0][1].count)
        dead = bool(series[-1][1].zeros[0] == series[-1][1].count)
        died += dead
        died_seeds += [seed] if dead else []
        r2 = 1 - scalars[(run, "epoch_val_loss")][-1][1] / np.var(y_val, dtype=np.float64)
        r2s.append(r2)
        stalled += bool(r2 < 0.05)
        stalled_alive += bool(r2 < 0.05) and not dead
    d_low, d_high = wilson_interval(died, seeds)
    s_low, s_high = wilson_interval(stalled, seeds)
    return died, stalled, "| %s | %d | %d | %d/%d (%.0f%%) | %.0f%%–%.0f%% | %d/%d (%.0f%%) | %.0f%%–%.0f%% | %d |" % (
        sweep, seeds, born_dead, died, seeds, 100 * died / seeds, 100 * d_low, 100 * d_high,
        stalled, seeds, 100 * stalled / seeds, 100 * s_low, 100 * s_high, stalled_alive,
    ), died_seeds, r2s


def test_seed_sweep_runs_the_one_unit_net_per_model_seed_on_the_same_data(tiny_logdir, tiny_records):
    scalars = _scalars(tiny_logdir)
    markdown = open(os.path.join(tiny_logdir, "results.md")).read()
    assert "## Seed sweep" in markdown
    for sweep in variants.SEED_SWEEPS:
        initial = []
        for seed in range(TINY.seeds):
            run = "seeds/%s/seed_%02d" % (sweep, seed)
            settings = results.read_settings(os.path.join(tiny_logdir, run))
            assert settings["model_seed"] == seed and settings["seed"] == variants.SEED
            assert settings["variant"]["units"] == [1]
            first = tiny_records[(run, "hidden_1")][0][1]
            assert first.count == TINY_VAL_ROWS  # the same validation rows for every seed
            initial.append(first.abs_sum[0])
        # Other initial weights: the unit's step-0 output differs between seeds.
        assert len(set(initial)) == TINY.seeds
        died, stalled, line, died_seeds, r2s = _sweep_line(tiny_logdir, tiny_records, scalars, sweep, TINY.seeds)
        (table_line,) = [x for x in markdown.splitlines() if x.startswith("| %s | %d |" % (sweep, TINY.seeds))]
        assert table_line.startswith(line)
        assert table_line.endswith(" %s |" % (", ".join(map(str, died_seeds)) or "none"))
        fitted = [r2 for r2 in r2s if r2 >= 0.05]
        assert table_line.split(" | ")[-2] == ("%.3f" % np.median(fitted) if fitted else "n/a")


def test_redo_runs_recycle_exactly_the_units_each_record_found_dead(tiny_logdir, tiny_records):
    redo_runs = [v for v in ALL if v.recycle_tau is not None]
    assert redo_runs
    recycled_total = 0
    for variant in redo_runs:
        for index in range(1, len(variant.units) + 1):
            layer = "hidden_%d" % index
            recycled = dict(tiny_records.get((variant.run, layer + "/recycled"), []))
            for step, record in tiny_records[(variant.run, layer)]:
                dead = (record.zeros == record.count) & (record.count > 0)
                if not dead.any():
                    assert step not in recycled, (variant.run, layer, step)
                    continue
                # Written at the step of the record that found them: one per dead unit.
                assert recycled[step].count == 1
                np.testing.assert_array_equal(recycled[step].zeros, dead.astype(np.int64))
                recycled_total += int(dead.sum())
    assert recycled_total > 0  # the tiny three-layer ReLU nets lose units within 2 epochs
    markdown = open(os.path.join(tiny_logdir, "results.md")).read()
    (line,) = [x for x in markdown.splitlines() if x.startswith("| three_layers_relu_redo |")]
    assert line.endswith("| %d |" % recycled_total)


def test_sweep_summary_counts_died_stalled_and_alive_but_stalled():
    # Five one-unit runs of the "negative" sweep: died and stalled (seed 0), born dead (1),
    # alive but stalled (2), alive and fitting (3, 4).
    cases = [(0, 0, 1, -0.001), (1, 1, 1, 0.0), (2, 0, 0, 0.049), (3, 0, 0, 0.05), (4, 0, 0, 0.99)]
    rows, settings = [], {}
    for seed, dead_step0, dead_end, r2 in cases:
        variant = variants.seed_sweep(5, ["negative"])[seed]
        settings[variant.run] = {"variant": dataclasses.asdict(variant)}
        rows.append({"run": variant.run, "units": 1, "dead_step0": dead_step0, "dead_end": dead_end,
                     "stalled": r2 < results.STALLED_R2, "val_r2": r2})
    (summary,) = results.sweep_summaries(rows, settings)
    assert summary["sweep"] == "negative" and summary["runs"] == 5
    assert (summary["born_dead"], summary["died"], summary["stalled"], summary["stalled_alive"]) == (1, 2, 3, 1)
    assert summary["died_seeds"] == [0, 1]
    assert summary["fit_r2"] == pytest.approx((0.05 + 0.99) / 2)  # the median of the two that fit
    # Wilson 95% for 2/5: p = 0.4, centre (0.4 + 0.38415) / 1.76830 = 0.44345,
    # half width 1.96 * sqrt(0.048 + 0.038415) / 1.76830 = 0.32581.
    assert summary["died_interval"] == (pytest.approx(0.11762, abs=1e-4), pytest.approx(0.76928, abs=1e-4))
    line = results.format_sweep_table([summary]).splitlines()[2]
    assert line == "| negative | 5 | 1 | 2/5 (40%) | 12%–77% | 3/5 (60%) | 23%–88% | 1 | 0.520 | 0, 1 |"


def test_seeds_flag_makes_n_runs_of_the_chosen_sweep(tmp_path):
    from experiments import __main__ as cli

    logdir = str(tmp_path / "logs")
    argv = ["--logdir", logdir, "--only", "seeds/negative", "--seeds", "3", "--samples", "200", "--epochs", "1"]
    assert cli.main(argv) == 0
    assert sorted(os.listdir(os.path.join(logdir, "seeds", "negative"))) == ["seed_00", "seed_01", "seed_02"]
    assert sorted(os.listdir(os.path.join(logdir, "seeds"))) == ["negative"]
    records = _read_records(logdir)
    assert sorted(records) == [("seeds/negative/seed_%02d" % k, tag) for k in range(3)
                               for tag in ("hidden_1", "hidden_1/gradients")]
    for (run, tag), series in records.items():
        assert [step for step, _ in series] == [0, 1]
        assert series[0][1].count == 200 - data.train_rows(200)
    (line,) = [x for x in open(os.path.join(logdir, "results.md")).read().splitlines() if x.startswith("| negative |")]
    assert line.startswith("| negative | 3 | ")
    # The flag's errors name it.
    with pytest.raises(ValueError, match="seeds must be a positive int, got 0"):
        variants.select(["seeds"], 0)
    with pytest.raises(ValueError, match="scale.seeds must be a non-negative int"):
        variants.Scale(samples=100, epochs=1, batch_size=8, seeds=-1)


def test_each_variant_stays_one_run_when_the_monitor_writes_into_a_subfolder(tmp_path, monkeypatch):
    # keras.callbacks.TensorBoard writes into <log_dir>/train; a monitor that
    # does the same must not split a variant into two runs.
    import tensorboard_plugin_deadrelu.keras as deadrelu_keras

    class IntoTrain(deadrelu_keras.DeadReluMonitor):
        def __init__(self, log_dir, **kwargs):
            super().__init__(os.path.join(log_dir, "train"), **kwargs)

    monkeypatch.setattr(deadrelu_keras, "DeadReluMonitor", IntoTrain)
    logdir = str(tmp_path / "logs")
    experiments.run(logdir, only=["one_layer"], scale=variants.Scale(200, 2, 64), out=open(os.devnull, "w"))
    runs = {run for run, _ in eventfiles.read_events(logdir)}
    assert runs == {os.path.join("one_layer", "relu", "train")}
    scalars = _scalars(logdir)
    assert [step for step, _ in scalars[("one_layer/relu", "epoch_val_loss")]] == [1, 2]
    with open(os.path.join(logdir, "results.csv"), newline="") as f:
        (row,) = csv.DictReader(f)
    assert float(row["final_val_loss"]) == pytest.approx(scalars[("one_layer/relu", "epoch_val_loss")][-1][1])
    # Event files in two folders of one variant: refused, naming both.
    eventfiles.write_summaries(os.path.join(logdir, "one_layer", "relu"), [])
    with pytest.raises(ValueError, match="event files in 2 folders .*one variant must be one run"):
        results.collect_rows(logdir)


def test_result_table_refuses_a_damaged_event_file(tmp_path):
    run_dir = tmp_path / "one_layer" / "relu"
    run_dir.mkdir(parents=True)
    eventfiles.write_records(str(run_dir), "hidden_1", [(0, {"count": 4, "zeros": np.array([1]),
                                                             "abs_sum": np.array([2.0]), "nonfinite": np.array([0])})])
    (run_dir / "run.json").write_text('{"epochs": 1}')
    (path,) = [p for p in run_dir.iterdir() if "tfevents" in p.name]
    path.write_bytes(path.read_bytes()[:-3])  # a truncated tail
    with pytest.raises(ValueError, match="run 'one_layer/relu' has .* cannot be read: .*tfevents.*truncated"):
        results.collect_rows(str(tmp_path))


def _files(run_dir):
    return sorted(
        (name, os.stat(os.path.join(run_dir, name)).st_size, os.stat(os.path.join(run_dir, name)).st_mtime_ns)
        for name in os.listdir(run_dir)
    )


def test_restart_after_interruption_keeps_complete_runs_and_retrains_the_interrupted_one(tmp_path):
    logdir = str(tmp_path / "logs")
    # Many short epochs: the kill lands while the second run is training.
    args = ["--samples", "100", "--epochs", "40", "--batch-size", "64"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "experiments", "--logdir", logdir, "--only", "one_layer", "three_layers", *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        for line in process.stdout:
            if "three_layers/relu epoch 1/" in line:
                process.send_signal(signal.SIGKILL)
                break
        else:
            pytest.fail("the run ended before the second variant trained")
    finally:
        process.kill()
        process.wait()
    complete = os.path.join(logdir, "one_layer", "relu")
    partial = os.path.join(logdir, ".incomplete", "three_layers", "relu")
    assert os.path.isfile(os.path.join(complete, "run.json"))
    assert not os.path.exists(os.path.join(logdir, "three_layers"))
    assert any("tfevents" in name for name in os.listdir(partial))
    before = _files(complete)

    scale = variants.Scale(samples=100, epochs=40, batch_size=64)
    experiments.run(logdir, only=["one_layer", "three_layers"], scale=scale, out=open(os.devnull, "w"))

    assert _files(complete) == before  # skipped, not retrained
    assert not os.path.exists(os.path.join(logdir, ".incomplete"))
    records = eventfiles.read_records(logdir)
    for layer in ("hidden_1", "hidden_2", "hidden_3"):
        steps = [step for step, _ in records[("three_layers/relu", layer)]]
        assert steps == list(range(41))
    with open(os.path.join(logdir, "results.csv"), newline="") as f:
        assert [r["run"] for r in csv.DictReader(f)] == ["one_layer/relu"] + ["three_layers/relu"] * 3


def test_restart_with_other_settings_is_refused(tmp_path):
    logdir = str(tmp_path / "logs")
    scale = variants.Scale(samples=100, epochs=1, batch_size=64)
    experiments.run(logdir, only=["one_layer"], scale=scale, out=open(os.devnull, "w"))
    with pytest.raises(ValueError, match="other settings.*another --logdir"):
        experiments.run(logdir, only=["one_layer"], scale=variants.Scale(100, 2, 64), out=open(os.devnull, "w"))


def test_bad_arguments_name_themselves(tmp_path):
    with pytest.raises(ValueError, match="only names 'nope'"):
        experiments.run(str(tmp_path), only=["nope"])
    with pytest.raises(ValueError, match="scale.epochs must be a positive int"):
        variants.Scale(samples=100, epochs=0, batch_size=8)
    with pytest.raises(ValueError, match="scale must be"):
        experiments.run(str(tmp_path), scale="quick")
    with pytest.raises(ValueError, match="logdir must be"):
        experiments.run("", scale=TINY)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(ValueError, match="logdir .* is not a directory"):
        experiments.run(str(not_a_folder), scale=TINY)


def test_inputs_are_negative_and_split_70_30():
    dataset = data.make_dataset(1000, seed=variants.SEED)
    x = np.concatenate([dataset.x_train, dataset.x_val])
    assert dataset.x_train.shape == (700, 4) and dataset.x_val.shape == (300, 4)
    assert (x < 0).all() and (x >= -1).all()
    y = np.concatenate([dataset.y_train, dataset.y_val])[:, 0]
    np.testing.assert_allclose(y, x.sum(axis=1) + np.sin(np.pi * x[:, 0]) * x[:, 1], rtol=1e-5)


def test_second_target_and_standardised_inputs():
    plain = data.make_dataset(1000, seed=variants.SEED, target_name="ripple")
    x = plain.x_train.astype(np.float64)
    want = np.sin(2 * np.pi * x[:, 0]) * np.cos(2 * np.pi * x[:, 1]) + x[:, 2] + x[:, 3]
    np.testing.assert_allclose(plain.y_train[:, 0], want, rtol=1e-5, atol=1e-6)
    scaled = data.make_dataset(1000, seed=variants.SEED, target_name="ripple", standardize=True)
    np.testing.assert_array_equal(scaled.y_train, plain.y_train)  # the target is of the raw inputs
    np.testing.assert_allclose(scaled.x_train.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(scaled.x_train.std(axis=0), 1, atol=1e-5)
    # The validation rows are scaled with the training rows' numbers.
    mean, std = plain.x_train.mean(axis=0, dtype=np.float64), plain.x_train.std(axis=0, dtype=np.float64)
    np.testing.assert_allclose(scaled.x_val, (plain.x_val - mean) / std, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="target must be one of article, ripple, got 'nope'"):
        data.make_dataset(10, seed=1, target_name="nope")
