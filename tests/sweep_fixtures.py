"""A small sweep-like logdir for the report's ranking and plots: six runs with names
such as ``sweep/lr0.01_wd0_seed3``, known dead units, gradient records in some runs,
a step where nothing was observed and a layer that misses a step.

:func:`write_sweep` writes it and returns the very arrays written, so tests compute
their expected numbers with numpy from the same arrays (not with ``analysis.py``).
"""

import os

import numpy as np

from tensorboard_plugin_deadrelu.core import metadata
from tests.eventfiles import write_records

# run -> (dead probability per cell, steps of dense, steps of dense_1, with gradient records?)
RUNS = {
    "sweep/lr0.01_wd0_seed3": (0.30, [0, 1, 2, 3], [0, 1, 2, 3], True),
    "sweep/lr0.01_wd0_seed10": (0.30, [0, 1, 2, 3], [0, 1, 3], False),
    "sweep/lr0.1_wd0_seed3": (0.60, [0, 1, 2, 3], [0, 1, 2, 3], True),
    "sweep/lr0.001_wd0_seed3": (0.05, [0, 1, 2, 3], [0, 1, 2, 3], False),
    "sweep/lr0.01_wd1e-4_seed3": (0.20, [0, 2, 4], [0, 2, 4], False),
    "baseline": (0.0, [0, 1, 2], [0, 1, 2], False),
}
UNITS = {"dense": 8, "dense_1": 4}
COUNT = 6


def make_arrays(seed, p_dead, steps, units, empty_step=None):
    """``(steps, count [S], zeros [S, U], abs_sum [S, U])``: a cell is dead with probability
    ``p_dead`` (a dead unit stays dead), else has 0..COUNT-1 zeros; ``empty_step`` has count 0."""
    rng = np.random.default_rng(seed)
    S = len(steps)
    count = np.full(S, COUNT, np.int64)
    # Deaths become likelier with time, so runs differ in their first death.
    dead = rng.random((S, units)) < p_dead * (np.arange(S)[:, None] + 0.3) / S
    dead = np.logical_or.accumulate(dead, axis=0)  # dead for good once dead
    zeros = np.where(dead, COUNT, rng.integers(0, COUNT, (S, units))).astype(np.int64)
    if empty_step is not None:
        i = steps.index(empty_step)
        count[i] = 0
        zeros[i] = 0
    abs_sum = np.where(dead, 0.0, rng.uniform(0.5, 3.0, (S, units)) * (COUNT - zeros))
    return np.asarray(steps, np.int64), count, zeros, abs_sum


def write_sweep(logdir):
    """Writes the sweep under ``logdir``; returns ``{run: {tag: (steps, count, zeros, abs_sum)}}``
    (gradient series under ``<layer>/gradients``)."""
    written = {}
    for r, (run, (p_dead, dense_steps, dense1_steps, gradients)) in enumerate(RUNS.items()):
        run_dir = os.path.join(logdir, run)
        written[run] = {}
        for l, (tag, steps) in enumerate((("dense", dense_steps), ("dense_1", dense1_steps))):
            empty = 1 if (run == "sweep/lr0.01_wd0_seed3" and tag == "dense_1") else None
            arrays = make_arrays(100 * r + l, p_dead, steps, UNITS[tag], empty_step=empty)
            written[run][tag] = arrays
            write_records(run_dir, tag, [
                (int(s), {"count": int(c), "zeros": z, "abs_sum": a, "nonfinite": np.zeros_like(z)})
                for s, c, z, a in zip(*arrays)
            ], description=None)
            if gradients:
                grad = make_arrays(100 * r + l + 50, p_dead / 2, steps, UNITS[tag])
                gtag = metadata.gradients_tag(tag)
                written[run][gtag] = grad
                write_records(run_dir, gtag, [
                    (int(s), {"count": int(c), "zeros": z, "abs_sum": a, "nonfinite": np.zeros_like(z)})
                    for s, c, z, a in zip(*grad)
                ], kind=metadata.KIND_GRADIENTS)
    return written
