"""A generated sweep logdir (runs named like ``sweep/lr0.01_wd0_seed3``) with a
numpy ground truth, for the ``runs_summary`` tests, the runs-table end-to-end
tests and ``benchmarks/bench_sweep.py``.

Every unit of every layer gets a death step (or none): from it on, its zeros
equal the count (dead); before it, fewer. Runs are written with the real
:class:`RecordWriter` (records, and the ``dead_fraction`` scalars a monitor
writes beside them), except that a run listed in ``without_scalars`` gets no
scalars and a run in ``with_gradients`` also gets gradient records (zero
gradient on every probe input exactly where the unit is dead, plus one more
unit per layer whose gradient is zero while it is alive).
"""

import dataclasses
import os

import numpy as np

from tensorboard_plugin_deadrelu.writing import event_writer

COUNT = 16


def sweep_names(count, lrs=("0.001", "0.01", "0.1"), wds=("0", "1e-4")):
    """``count`` run names ``sweep/lr{lr}_wd{wd}_seed{n}``, cycling learning rates, then weight decays, then seeds."""
    names = []
    seed = 0
    while len(names) < count:
        for wd in wds:
            for lr in lrs:
                if len(names) < count:
                    names.append("sweep/lr%s_wd%s_seed%d" % (lr, wd, seed))
        seed += 1
    return names


@dataclasses.dataclass
class Layer:
    tag: str
    units: int
    steps: list
    zeros: np.ndarray  # [steps, units]
    gradient_zeros: object = None  # [steps, units] or None

    @property
    def dead(self):
        """[steps, units] bool: dead at that step (zeros == count)."""
        return self.zeros == COUNT


def layer_zeros(rng, units, steps, death_rate):
    """[steps, units] zeros: each unit dies at a random step index with probability ``death_rate``, for good."""
    zeros = rng.integers(0, COUNT, size=(len(steps), units))
    for u in range(units):
        if rng.random() < death_rate:
            zeros[rng.integers(1, len(steps)) :, u] = COUNT
    return zeros


def write_sweep(logdir, runs, layers=("dense_1", "dense_2", "dense_10"), units=(8, 12, 5), steps=(0, 10, 20, 30, 40),
                seed=0, without_scalars=(), with_gradients=()):
    """Writes one run per name of ``runs`` under ``logdir``; returns ``{run: [Layer]}`` (model order).

    The death rate grows with the run's position, and the first run has no dead unit at all;
    layer widths are ``units`` plus 3 x (the run's position mod 4).
    """
    rng = np.random.default_rng(seed)
    truth = {}
    steps = list(steps)
    for i, run in enumerate(runs):
        rate = 0.0 if i == 0 else min(0.9, 0.1 + 0.8 * i / max(1, len(runs) - 1))
        run_layers = []
        for tag, base in zip(layers, units):
            # Widths differ between runs, so that dead units and dead share order runs differently.
            width = base + 3 * (i % 4)
            zeros = layer_zeros(rng, width, steps, rate * rng.random())
            gradient = None
            if run in with_gradients:
                gradient = np.where(zeros == COUNT, COUNT, rng.integers(0, COUNT, size=zeros.shape))
                gradient[:, 0] = COUNT  # alive or not, unit 0 gets no gradient
            run_layers.append(Layer(tag, width, steps, zeros, gradient))
        with event_writer.RecordWriter(os.path.join(str(logdir), run)) as writer:
            for s, step in enumerate(steps):
                for order, layer in enumerate(run_layers):
                    sums = dict(
                        count=COUNT,
                        zeros=layer.zeros[s],
                        abs_sum=(COUNT - layer.zeros[s]).astype(np.float32),
                        nonfinite=np.zeros(layer.units, np.int64),
                    )
                    writer.write_record(layer.tag, step, **sums, order=order)
                    if run not in without_scalars:
                        writer.write_dead_fraction(layer.tag, step, **sums)
                    if layer.gradient_zeros is not None:
                        writer.write_record(
                            layer.tag, step, count=COUNT, zeros=layer.gradient_zeros[s],
                            abs_sum=(COUNT - layer.gradient_zeros[s]).astype(np.float32),
                            nonfinite=np.zeros(layer.units, np.int64), kind="gradients", order=order,
                        )
        truth[run] = run_layers
    return truth


def expected_row(run, layers, source):
    """The ``runs_summary`` row of a run, computed here with numpy from its ``[Layer]``."""
    units = sum(l.units for l in layers)
    dead = [int(l.dead[-1].sum()) for l in layers]
    shares = [d / l.units for d, l in zip(dead, layers)]
    worst = int(np.argmax(shares))
    deaths = [l.steps[int(np.argmax(l.dead.any(axis=1)))] for l in layers if l.dead.any()]
    gradients = [l.gradient_zeros for l in layers if l.gradient_zeros is not None]
    return {
        "run": run,
        "layers": len(layers),
        "units": units,
        "dead": sum(dead),
        "dead_share": sum(dead) / units,
        "worst_layer": layers[worst].tag,
        "worst_share": shares[worst],
        "first_death_step": min(deaths) if deaths else None,
        "zero_gradient_units": int(sum((g[-1] == COUNT).sum() for g in gradients)) if gradients else None,
        "last_step": layers[0].steps[-1],
        "source": source,
    }
