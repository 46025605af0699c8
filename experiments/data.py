"""The article's data: inputs drawn uniformly from (-1, 0), and our regression target.

Every input is negative in every feature. A ReLU unit with zero bias and
non-negative weights therefore outputs zero on *every* input, and a gradient
step that makes a unit's output smaller raises all of its weights at once
(the gradient of ``w . x`` is ``x``, negative everywhere): one push in that
direction can switch a unit off on the whole input space. That is the
article's setting.

The article does not state its target. We use

    y = x1 + x2 + x3 + x4 + sin(pi * x1) * x2

a smooth function with values in (-4, 0), the same for every variant. It is
mostly linear, so that the article's one-unit ReLU net can fit most of it
while the unit is alive (with negative weights ``relu(w . x)`` is linear on
the whole input cube) and a dead unit shows in the loss (it stalls at the
target's variance, about 0.29); the small nonlinear term gives deeper and
wider nets something to gain.
"""

import dataclasses

import numpy as np

FEATURES = 4
TRAIN_FRACTION = 0.7
TARGET_FORMULA = "y = x1 + x2 + x3 + x4 + sin(pi * x1) * x2"


def train_rows(samples):
    """How many of ``samples`` rows are training rows (the rest are validation)."""
    return int(round(samples * TRAIN_FRACTION))


def target(x):
    """The regression target for inputs ``x`` of shape ``[n, 4]``; returns ``[n, 1]`` float32."""
    x = np.asarray(x, dtype=np.float64)
    y = x.sum(axis=1) + np.sin(np.pi * x[:, 0]) * x[:, 1]
    return y[:, None].astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Inputs and targets split 70/30 into training and validation."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def make_dataset(samples, seed):
    """Draws ``samples`` rows of x ~ uniform(-1, 0)^4 and splits them 70/30.

    The rows depend only on ``seed`` and ``samples``; with a larger ``samples``
    the same generator yields different rows, which is fine: every variant of a
    given size sees exactly the same data.
    """
    if samples < 2:
        raise ValueError("samples must be at least 2, got %r" % (samples,))
    rng = np.random.default_rng(seed)
    # uniform() draws from [low, high) = [-1, 0): every input is negative.
    x = rng.uniform(-1.0, 0.0, size=(samples, FEATURES)).astype(np.float32)
    y = target(x)
    split = train_rows(samples)
    return Dataset(x[:split], y[:split], x[split:], y[split:])
