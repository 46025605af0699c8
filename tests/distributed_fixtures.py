"""What the distributed tests share: the inputs of a fixed-weight network, its
outputs and gradients by hand in numpy (the ground truth), and the records as
TensorBoard's data provider serves them.

The network is Dense(5 -> 6) + ReLU ('hidden') -> Dense(6 -> 4) + ReLU
('relu') -> Dense(4 -> 1), trained with learning rate 0, so its weights never
change and the expected sums over the union of every worker's rows are known.
"""

import numpy as np

from tensorboard import context as tb_context

from tensorboard_plugin_deadrelu.core import metadata
from tests.provider_fixtures import data_provider, record_sums

ROWS, PROBE_ROWS = 100, 64
FIRES_ON_ONE_ROW = 12  # hidden unit 1 fires on this row of x only
CTX = tb_context.RequestContext()


def make_inputs(rng):
    """Weights (``k1, b1, k2, b2, k3, b3``, kernels ``[in, out]``), ``x, y`` and ``probe_x, probe_y``.

    Hidden unit 0 is dead on every input (bias -100); unit 1 fires on row
    ``FIRES_ON_ONE_ROW`` of ``x`` only.
    """
    x = rng.normal(size=(ROWS, 5)).astype(np.float32)
    k1 = rng.normal(size=(5, 6)).astype(np.float32)
    b1 = rng.normal(scale=0.1, size=6).astype(np.float32)
    b1[0] = -100.0
    z = x @ k1[:, 1]
    top, second = np.sort(z)[-2:][::-1]
    b1[1] = -(top + second) / 2
    rare = int(np.argmax(z))
    x[[rare, FIRES_ON_ONE_ROW]] = x[[FIRES_ON_ONE_ROW, rare]]
    return {
        "x": x,
        "y": rng.normal(size=(ROWS, 1)).astype(np.float32),
        "k1": k1,
        "b1": b1,
        "k2": rng.normal(size=(6, 4)).astype(np.float32),
        "b2": rng.normal(scale=0.1, size=4).astype(np.float32),
        "k3": rng.normal(size=(4, 1)).astype(np.float32),
        "b3": np.zeros(1, np.float32),
        "probe_x": rng.normal(size=(PROBE_ROWS, 5)).astype(np.float32),
        "probe_y": rng.normal(size=(PROBE_ROWS, 1)).astype(np.float32),
    }


def forward(inputs, x, y=None):
    """Per ReLU layer, its outputs on ``x``, and (with ``y``) the gradients of the summed squared
    error with respect to its pre-activation: ``({layer: outputs}, {layer: gradients} or None)``."""
    z1 = x @ inputs["k1"] + inputs["b1"]
    hidden = np.maximum(z1, 0)
    z2 = hidden @ inputs["k2"] + inputs["b2"]
    relu = np.maximum(z2, 0)
    outputs = {"hidden": hidden, "relu": relu}
    if y is None:
        return outputs, None
    d_out = 2 * (relu @ inputs["k3"] + inputs["b3"] - y)
    d_z2 = (d_out @ inputs["k3"].T) * (z2 > 0)
    d_z1 = (d_z2 @ inputs["k2"].T) * (z1 > 0)
    return outputs, {"hidden": d_z1, "relu": d_z2}


def dead_share(values):
    """The share of units (columns) that are 0 on every row."""
    return np.count_nonzero((values == 0).all(axis=0)) / values.shape[1]


def tensorboard_records(logdir):
    """``{run: {tag: [(step, Record)]}}`` as TensorBoard's data provider serves the Dead ReLU series."""
    _, provider = data_provider(logdir)
    tensors = provider.read_tensors(CTX, experiment_id="", plugin_name=metadata.PLUGIN_NAME, downsample=1000)
    return {
        run: {tag: [(d.step, metadata.decode_record(d.numpy)) for d in data] for tag, data in tags.items()}
        for run, tags in tensors.items()
    }


def dead_fractions(logdir, run):
    """``{layer: [(step, value)]}`` of the run's dead_fraction scalars, as TensorBoard serves them."""
    _, provider = data_provider(logdir)
    scalars = provider.read_scalars(CTX, experiment_id="", plugin_name="scalars", downsample=1000)[run]
    return {tag.split("/")[1]: [(d.step, d.value) for d in data] for tag, data in scalars.items()}
