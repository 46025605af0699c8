"""The article's data: inputs drawn uniformly from (-1, 0), and our regression targets.

Every input is negative in every feature. A ReLU unit with zero bias and
non-negative weights therefore outputs zero on *every* input, and a gradient
step that makes a unit's output smaller raises all of its weights at once
(the gradient of ``w . x`` is ``x``, negative everywhere): one push in that
direction can switch a unit off on the whole input space. That is the
article's setting.

The article does not state its target. Our main one (``"article"``) is

    y = x1 + x2 + x3 + x4 + sin(pi * x1) * x2

a smooth function with values in (-4, 0). It is mostly linear, so that the
article's one-unit ReLU net can fit most of it while the unit is alive (with
negative weights ``relu(w . x)`` is linear on the whole input cube) and a dead
unit shows in the loss (it stalls at the target's variance, about 0.29); the
small nonlinear term gives deeper and wider nets something to gain.

To check that our conclusions do not hinge on that choice, a second, plainly
different target (``"ripple"``) is

    y = sin(2 * pi * x1) * cos(2 * pi * x2) + x3 + x4

whose larger part (variance 0.25 of 0.42) is a product of two full periods
of waves: orthogonal to every linear function of x, and not monotone along
any direction, so a one-unit net (a single ReLU ridge) cannot fit it however
it trains; only its linear part x3 + x4 is within the unit's reach.
"""

import dataclasses

import numpy as np

FEATURES = 4
TRAIN_FRACTION = 0.7


@dataclasses.dataclass(frozen=True)
class Target:
    """A regression target: its formula (for people) and its function of ``x`` ``[n, 4]`` (float64)."""

    formula: str
    function: object


TARGETS = {
    "article": Target(
        "y = x1 + x2 + x3 + x4 + sin(pi * x1) * x2",
        lambda x: x.sum(axis=1) + np.sin(np.pi * x[:, 0]) * x[:, 1],
    ),
    "ripple": Target(
        "y = sin(2 * pi * x1) * cos(2 * pi * x2) + x3 + x4",
        lambda x: np.sin(2 * np.pi * x[:, 0]) * np.cos(2 * np.pi * x[:, 1]) + x[:, 2] + x[:, 3],
    ),
}
DEFAULT_TARGET = "article"
TARGET_FORMULA = TARGETS[DEFAULT_TARGET].formula


def train_rows(samples):
    """How many of ``samples`` rows are training rows (the rest are validation)."""
    return int(round(samples * TRAIN_FRACTION))


def check_target(name):
    """Returns ``name`` if it names a target of :data:`TARGETS`; raises ValueError naming ``target`` otherwise."""
    if name not in TARGETS:
        raise ValueError("target must be one of %s, got %r" % (", ".join(sorted(TARGETS)), name))
    return name


def target(x, name=DEFAULT_TARGET):
    """The regression target ``name`` for inputs ``x`` of shape ``[n, 4]``; returns ``[n, 1]`` float32."""
    x = np.asarray(x, dtype=np.float64)
    return TARGETS[check_target(name)].function(x)[:, None].astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Inputs and targets split 70/30 into training and validation."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def make_dataset(samples, seed, target_name=DEFAULT_TARGET, standardize=False):
    """Draws ``samples`` rows of x ~ uniform(-1, 0)^4 and splits them 70/30.

    The rows depend only on ``seed`` and ``samples``; with a larger ``samples``
    the same generator yields different rows, which is fine: every variant of a
    given size sees exactly the same data. The target is computed from the raw
    inputs. With ``standardize``, the inputs the network sees are then shifted
    and scaled per feature to mean 0 and standard deviation 1 on the training
    rows (the validation rows with the same numbers): half of every feature is
    then positive, which is what SELU's self-normalisation assumes, and what
    takes away the article's hostile setting.
    """
    if samples < 2:
        raise ValueError("samples must be at least 2, got %r" % (samples,))
    rng = np.random.default_rng(seed)
    # uniform() draws from [low, high) = [-1, 0): every input is negative.
    x = rng.uniform(-1.0, 0.0, size=(samples, FEATURES)).astype(np.float32)
    y = target(x, target_name)
    split = train_rows(samples)
    if standardize:
        mean = x[:split].mean(axis=0, dtype=np.float64)
        std = x[:split].std(axis=0, dtype=np.float64)
        x = ((x - mean) / std).astype(np.float32)
    return Dataset(x[:split], y[:split], x[split:], y[split:])


def validation_variance(samples, seed, target_name=DEFAULT_TARGET):
    """The variance of the validation targets: the loss (MSE) of the best constant prediction."""
    return float(np.var(make_dataset(samples, seed, target_name).y_val, dtype=np.float64))
