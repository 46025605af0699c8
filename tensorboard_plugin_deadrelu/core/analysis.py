"""What the per-unit sums of a layer say about dead units, as pure numpy functions.

Every function takes the *stacked* arrays of one series (one layer of one run),
steps ascending, as returned by ``series.py``:

* ``steps``     ``[S]`` ints, ascending;
* ``count``     ``[S]`` values observed per unit at each step;
* ``zeros``     ``[S, U]`` values exactly equal to 0;
* ``abs_sum``   ``[S, U]`` sum of ``|value|`` over finite values;
* ``nonfinite`` ``[S, U]`` NaN/Inf values.

They import nothing but numpy, so the TensorBoard plugin, the ``deadrelu report``
command, the experiments' result table and notebooks share one definition of
"dead", "death step" and so on; :func:`summarize_layer` is the one per-layer
summary they all build on. The tab computes the same in JavaScript
(``frontend/stats.js``); both are checked against ``tests/golden/analysis_vectors.json``.

Counts may exceed 2**32 (one ImageNet epoch through a stem convolution): the
comparisons here are exact for any int64 ``count`` and uint64 ``zeros``.
"""

import dataclasses

import numpy as np

# A unit is *nearly dead* at a step when it output 0 on at least this share of its inputs.
DEFAULT_NEARLY_DEAD_THRESHOLD = 0.99
# A unit is *τ-dormant* when its score is at most τ; Sokar et al. (2023) use 0, 0.025 and 0.1.
DEFAULT_TAU = 0.025

# Steps per block when a per-step count needs float64 temporaries per cell.
_STEPS_PER_BLOCK = 64


def _as_count_and_zeros(count, zeros):
    count = np.asarray(count)
    zeros = np.asarray(zeros)
    if zeros.ndim != 2:
        raise ValueError("zeros must have shape [steps, units], got %s" % (zeros.shape,))
    if count.shape != (zeros.shape[0],):
        raise ValueError(
            "count must have shape [steps] = [%d], got %s" % (zeros.shape[0], count.shape)
        )
    return count, zeros


def _as_dead(dead):
    dead = np.asarray(dead, dtype=bool)
    if dead.ndim != 2:
        raise ValueError("dead must have shape [steps, units], got %s" % (dead.shape,))
    return dead


def dead_mask(count, zeros):
    """Boolean ``[S, U]``: the unit output exactly zero on every value observed at that step.

    A step where nothing was observed (``count == 0``) has no dead units.
    """
    count, zeros = _as_count_and_zeros(count, zeros)
    column = count[:, None]
    return (zeros == column) & (column > 0)


def dead_counts(count, zeros):
    """Int ``[S]``: number of dead units per step."""
    return np.count_nonzero(dead_mask(count, zeros), axis=1)


def nearly_dead_mask(count, zeros, threshold=DEFAULT_NEARLY_DEAD_THRESHOLD):
    """Boolean ``[S, U]``: ``zeros >= threshold * count`` (and ``count > 0``).

    Args:
      threshold: Fraction of zero outputs, in ``(0, 1]``; 1 is the same as
        :func:`dead_mask`.
    """
    threshold = check_threshold(threshold)
    count, zeros = _as_count_and_zeros(count, zeros)
    column = count[:, None]
    return (zeros >= threshold * column) & (column > 0)


def nearly_dead_counts(count, zeros, threshold=DEFAULT_NEARLY_DEAD_THRESHOLD):
    """Int ``[S]``: units per step whose fraction of zero outputs is at least ``threshold``."""
    return np.count_nonzero(nearly_dead_mask(count, zeros, threshold), axis=1)


def check_threshold(threshold):
    """Returns ``threshold`` as a float, or raises ValueError naming it when not in (0, 1]."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ValueError("threshold must be a number in (0, 1], got %r" % (threshold,)) from None
    if not 0.0 < value <= 1.0:  # also rejects NaN
        raise ValueError("threshold must be in (0, 1], got %r" % (threshold,))
    return value


def check_tau(tau):
    """Returns ``tau`` as a float, or raises ValueError naming it when not a finite number >= 0."""
    try:
        value = float(tau)
    except (TypeError, ValueError):
        raise ValueError("tau must be a finite number >= 0, got %r" % (tau,)) from None
    if not 0.0 <= value < float("inf"):  # also rejects NaN
        raise ValueError("tau must be a finite number >= 0, got %r" % (tau,))
    return value


def zero_fractions(count, zeros):
    """Float ``[S, U]``: the share of a unit's values that were exactly 0; NaN where ``count == 0``."""
    count, zeros = _as_count_and_zeros(count, zeros)
    column = np.broadcast_to(count[:, None], zeros.shape).astype(np.float64)
    out = np.full(zeros.shape, np.nan)
    np.divide(zeros, column, out=out, where=column > 0)
    return out


def death_step_indices(dead):
    """Int ``[U]``: per unit, the index of the first step from which it is dead at
    every later step, or -1 when it is not dead at the last step (or there are no steps)."""
    dead = _as_dead(dead)
    steps, units = dead.shape
    if steps == 0:
        return np.full(units, -1, dtype=np.int64)
    # Units as rows, latest step first: argmax along contiguous rows is ~10x
    # faster than along the step axis of a [steps, units] array.
    alive_latest_first = np.ascontiguousarray((~dead).T[:, ::-1])
    # Index of the last step where the unit was alive; -1 when never alive.
    last_alive = np.where(alive_latest_first.any(axis=1), steps - 1 - np.argmax(alive_latest_first, axis=1), -1)
    first_dead_for_good = last_alive + 1
    return np.where(first_dead_for_good < steps, first_dead_for_good, -1).astype(np.int64)


def death_steps(steps, dead):
    """Per unit, the first step from which the unit is dead at every later step, or None.

    Returns a list of ints/None (JSON-ready) of length ``U``.
    """
    steps = np.asarray(steps)
    indices = death_step_indices(dead)
    return [int(steps[i]) if i >= 0 else None for i in indices]


def revived(dead):
    """Boolean ``[U]``: dead at some earlier step but not at the latest one."""
    dead = _as_dead(dead)
    if dead.shape[0] < 2:
        return np.zeros(dead.shape[1], dtype=bool)
    return dead[:-1].any(axis=0) & ~dead[-1]


def still_dead_counts(dead):
    """Int ``[S]``: units dead at that step *and* at the latest step.

    This is the persistence measure of ReDo (Sokar et al. 2023): how many of the
    units dead at a step never came back.
    """
    dead = _as_dead(dead)
    if dead.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    return np.count_nonzero(dead & dead[-1], axis=1)


def first_fully_dead_step(steps, dead):
    """The first step at which every unit of the layer is dead, or None."""
    dead = _as_dead(dead)
    if dead.shape[1] == 0:
        return None
    all_dead = dead.all(axis=1)
    if not all_dead.any():
        return None
    return int(np.asarray(steps)[np.argmax(all_dead)])


def mean_abs(count, abs_sum, nonfinite):
    """Float ``[S, U]``: mean ``|activation|`` over the finite values of each unit.

    NaN where a unit saw no finite value at that step.
    """
    count = np.asarray(count)
    abs_sum = np.asarray(abs_sum, dtype=np.float64)
    finite = count[:, None] - np.asarray(nonfinite)
    out = np.full(abs_sum.shape, np.nan)
    np.divide(abs_sum, finite, out=out, where=finite > 0)
    return out


def _mean_over_units(means):
    """Float ``[S]``: the mean of ``[S, U]`` per-unit values over the non-NaN units; NaN if none."""
    observed = ~np.isnan(means)
    seen = observed.sum(axis=1)
    sums = np.where(observed, means, 0.0).sum(axis=1)
    return np.divide(sums, seen, out=np.full(sums.shape, np.nan), where=seen > 0)


def layer_mean_abs(count, abs_sum, nonfinite):
    """Float ``[S]``: the layer's mean over units of each unit's mean ``|value|``.

    Units with no finite value at a step are left out; NaN where no unit saw
    one. For gradient records this is the layer's mean ``|d(loss)/d(z)|``,
    which shows a vanishing gradient of the whole layer.
    """
    return _mean_over_units(mean_abs(count, abs_sum, nonfinite))


def dormant_scores(count, abs_sum, nonfinite):
    """Float ``[S, U]``: the τ-dormant score of Sokar et al. 2023 per step and unit.

    ``score_u = mean|a_u| / (mean over the layer's units of mean|a|)``. A unit is
    τ-dormant when ``score_u <= τ``; a dead unit scores 0. When the whole layer
    outputs only zeros at a step every unit scores 0 (all are dormant); units
    with no finite value score NaN.
    """
    means = mean_abs(count, abs_sum, nonfinite)
    scores = np.full(means.shape, np.nan)
    if means.size == 0:
        return scores
    observed = ~np.isnan(means)
    layer_mean = np.nan_to_num(_mean_over_units(means), nan=0.0)[:, None]
    np.divide(means, layer_mean, out=scores, where=observed & (layer_mean > 0))
    scores[observed & (layer_mean == 0)] = 0.0
    return scores


def dormant_counts(count, abs_sum, nonfinite, tau=DEFAULT_TAU):
    """Int ``[S]``: τ-dormant units per step (score ``<= tau``, Sokar et al. 2023); NaN scores never count."""
    tau = check_tau(tau)
    count = np.asarray(count)
    abs_sum = np.asarray(abs_sum)
    nonfinite = np.broadcast_to(np.asarray(nonfinite), abs_sum.shape)
    out = np.zeros(count.shape[0], dtype=np.int64)
    # Scores are per step: computing them a block of steps at a time gives the
    # same counts with float64 temporaries of a few MB instead of 8 bytes per cell.
    for start in range(0, count.shape[0], _STEPS_PER_BLOCK):
        block = slice(start, start + _STEPS_PER_BLOCK)
        scores = dormant_scores(count[block], abs_sum[block], nonfinite[block])
        out[block] = np.count_nonzero(scores <= tau, axis=1)
    return out


def recyclable_units(count, zeros, abs_sum, nonfinite, tau=0.0):
    """Int ``[k]``: the units of ONE record a remedy such as ReDo resets, in increasing order.

    With ``tau`` 0 the dead units (``zeros == count``, :func:`dead_mask`);
    with ``tau > 0`` the τ-dormant ones (:func:`dormant_scores` ``<= tau``,
    Sokar et al. 2023), which include the dead ones. A record with ``count``
    0 (nothing observed) has none.

    Args:
      count: int, values observed per unit.
      zeros, abs_sum, nonfinite: the record's per-unit sums, shape ``[U]``
        (``nonfinite`` may be a scalar).
      tau: finite number >= 0.
    """
    tau = check_tau(tau)
    zeros = np.asarray(zeros)
    counts = np.array([int(count)], dtype=np.int64)
    if tau == 0.0:
        chosen = dead_mask(counts, zeros[None, :])[0]
    else:
        abs_sum = np.asarray(abs_sum, dtype=np.float64)
        nonfinite = np.broadcast_to(np.asarray(nonfinite), abs_sum.shape)
        chosen = dormant_scores(counts, abs_sum[None, :], nonfinite[None, :])[0] <= tau
    return np.flatnonzero(chosen)


@dataclasses.dataclass(frozen=True)
class RecycledSummary:
    """The units a remedy reset, per step, from a layer's ``"recycled"`` series.

    ``units[i]`` holds the indices of the units reset at ``steps[i]`` (a
    record's units with ``zeros`` > 0).
    """

    steps: np.ndarray  # int64 [S]
    units: tuple  # of int64 arrays

    @property
    def total(self):
        return int(sum(u.shape[0] for u in self.units))

    @property
    def nbytes(self):
        return int(self.steps.nbytes + sum(u.nbytes for u in self.units)) + 64

    def to_pairs(self):
        """``[[step, [unit, ...]], ...]`` (JSON-ready)."""
        return [[int(step), units.tolist()] for step, units in zip(self.steps, self.units)]


def summarize_recycled(series):
    """The :class:`RecycledSummary` of a ``"recycled"`` series (anything with ``steps`` and ``zeros``)."""
    zeros = np.asarray(series.zeros)
    return RecycledSummary(
        steps=np.asarray(series.steps, dtype=np.int64).copy(),
        units=tuple(np.flatnonzero(row > 0).astype(np.int64) for row in zeros),
    )


@dataclasses.dataclass(frozen=True)
class LayerSummary:
    """What one layer's series says about its units, per step and per unit.

    The one per-layer summary behind the ``overview`` route, ``deadrelu
    report`` and the experiments' result table. Per-step arrays have shape
    ``[S]``, per-unit arrays ``[U]``; small enough to keep when the series
    itself is gone.
    """

    units: int
    steps: np.ndarray  # int64 [S]
    count: np.ndarray  # int64 [S]
    dead: np.ndarray  # int64 [S], units dead at each step
    nearly_dead: np.ndarray  # int64 [S], zero fraction >= threshold
    still_dead: np.ndarray  # int64 [S], dead at that step and at the latest
    dormant: np.ndarray  # int64 [S], τ-dormant score <= tau
    death_index: np.ndarray  # int64 [U]: index of the step from which the unit stayed dead, -1 if not
    revived: np.ndarray  # bool [U], dead earlier but not at the latest step
    first_fully_dead_step: object  # int or None
    threshold: float
    tau: float

    def death_steps(self):
        """Per unit, the step from which it stayed dead, or None (a JSON-ready list)."""
        return [int(self.steps[i]) if i >= 0 else None for i in self.death_index]

    @property
    def nbytes(self):
        """Approximate memory held, for byte-bounded caches."""
        arrays = (
            self.steps, self.count, self.dead, self.nearly_dead, self.still_dead, self.dormant,
            self.death_index, self.revived,
        )
        return sum(a.nbytes for a in arrays) + 300


def summarize_layer(series, threshold=DEFAULT_NEARLY_DEAD_THRESHOLD, tau=DEFAULT_TAU):
    """The :class:`LayerSummary` of a series (anything with ``steps``, ``count``,
    ``zeros``, ``abs_sum`` and ``nonfinite`` arrays as described above).

    Raises:
      ValueError: ``threshold`` not in (0, 1] or ``tau`` not a finite number >= 0.
    """
    threshold = check_threshold(threshold)
    tau = check_tau(tau)
    dead = dead_mask(series.count, series.zeros)
    return LayerSummary(
        units=int(dead.shape[1]),
        steps=np.asarray(series.steps, dtype=np.int64),
        count=np.asarray(series.count, dtype=np.int64),
        dead=np.count_nonzero(dead, axis=1).astype(np.int64),
        nearly_dead=nearly_dead_counts(series.count, series.zeros, threshold).astype(np.int64),
        still_dead=still_dead_counts(dead).astype(np.int64),
        dormant=dormant_counts(series.count, series.abs_sum, series.nonfinite, tau).astype(np.int64),
        death_index=death_step_indices(dead),
        revived=revived(dead),
        first_fully_dead_step=first_fully_dead_step(series.steps, dead),
        threshold=threshold,
        tau=tau,
    )


@dataclasses.dataclass(frozen=True)
class GradientSummary:
    """What a layer's gradient series says, per step: units whose gradient was
    exactly 0 on every probe input (``zero``, the dead rule applied to the
    gradient record) and the layer's mean |d(loss)/d(pre-activation)|
    (``mean_abs``, NaN where no unit saw a finite gradient)."""

    steps: np.ndarray  # int64 [S]
    count: np.ndarray  # int64 [S]
    zero: np.ndarray  # int64 [S]
    mean_abs: np.ndarray  # float64 [S]

    @property
    def nbytes(self):
        return self.steps.nbytes + self.count.nbytes + self.zero.nbytes + self.mean_abs.nbytes + 200


def summarize_gradients(series):
    """The :class:`GradientSummary` of a gradient series."""
    return GradientSummary(
        steps=np.asarray(series.steps, dtype=np.int64),
        count=np.asarray(series.count, dtype=np.int64),
        zero=dead_counts(series.count, series.zeros).astype(np.int64),
        mean_abs=layer_mean_abs(series.count, series.abs_sum, series.nonfinite),
    )
