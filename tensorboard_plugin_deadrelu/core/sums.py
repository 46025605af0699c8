"""The four per-unit sums of a record, and the one rule that reduces values to them.

Every writer (this numpy reference, the TensorFlow op in ``writing.summary``,
``keras.ops`` in the Keras monitor, torch in ``torch.sums``) reduces a batch of
values of shape ``[batch, ..., units]`` (or ``[batch, units, ...]`` with
``channels_first``) to four sums per unit, by this rule:

* ``count``: values observed per unit, the product of every axis but the units
  axis; the same for all units, so a single int;
* ``zeros``: values exactly equal to 0 (``-0.0`` included; NaN and +-Inf never);
* ``abs_sum``: the sum of ``|value|`` over the finite values;
* ``nonfinite``: NaN and +-Inf values.

Counts are exact integers of any size (int64 here; 2**53 and more are stored
exactly as int64 on disk). Integer inputs and float64 inputs sum ``abs_sum`` in
float64 (the relative error is at most about ``n * 2**-53`` for ``n`` values
per unit; ``|value|`` of the smallest integer is taken in float64, never
wrapped around). float32 and narrower inputs (float16, bfloat16) may sum within
one batch in float32, which keeps counting cheap on the training hot path: the
relative error is at most about ``n * 2**-24``. A backend without float64 (the
Keras monitor on JAX without ``jax_enable_x64``) sums every input in float32,
with that same ``n * 2**-24`` bound. A float32 sum that would pass float32's
largest value (3.4e38) is redone in float64 by numpy, TensorFlow and torch,
and is +Inf from the ``keras.ops`` sums (the JAX counter's); either way it is
not a NaN/Inf *value* (``nonfinite`` does not count it), and a record, which
stores ``abs_sum`` as float32, holds +Inf. Across batches sums are added in float64 (or an
equivalent: the JAX counter keeps float32 Kahan pairs and uint32 word pairs).

All four are additive (:func:`add`), so records merge over batches, steps,
replicas or workers by summing. The golden vectors in
``tests/golden/sums_vectors.json`` hold inputs and the exact expected sums;
every backend's reduction is checked against them.

A *sums* value is a dict with those four keys (``count`` an int, the others
arrays of shape ``[units]``): the keyword arguments of a record.
"""

import numpy as np

SUM_NAMES = ("count", "zeros", "abs_sum", "nonfinite")

# A float32 sum of 0/1 values counts exactly up to this many values per unit.
FLOAT32_EXACT_COUNT = 2**24


def check_values(shape, dtype_name, is_numeric, channels_first=False):
    """Raises ValueError naming ``data`` if it cannot hold activations.

    ``shape`` is a list of ints or None entries, or None when the rank is unknown.
    """
    if not is_numeric:
        raise ValueError(
            "data must be a real numeric (integer or float) tensor of activations, "
            "got dtype %s" % dtype_name
        )
    if shape is None:
        return
    if len(shape) < 2:
        raise ValueError(
            "data must have a batch axis and a units axis (shape [batch, ..., units]), "
            "got shape %s" % (tuple(shape),)
        )
    units = shape[1] if channels_first else shape[-1]
    if units == 0:
        raise ValueError(
            "data has no units: its units axis (axis %d) has size 0, shape %s"
            % (1 if channels_first else -1, tuple(shape))
        )


def reduce_np(data, channels_first=False):
    """Reduces activations to per-unit sums with numpy.

    Args:
      data: Array-like of shape ``[batch, ..., units]`` (or ``[batch, units, ...]``
        with ``channels_first=True``), integer or float (also ml_dtypes'
        bfloat16 and float8). A batch of size 0 gives ``count`` 0.
      channels_first: Whether the units (channels) axis is axis 1.

    Returns:
      A dict with ``count`` (int), ``zeros`` and ``nonfinite`` (int64 arrays of
      shape ``[units]``) and ``abs_sum`` (float64 ``[units]``, finite values only).

    Raises:
      ValueError: ``data`` is not integer/float, has fewer than 2 axes or no units.
    """
    try:
        data = np.asarray(data)
    except ValueError as e:  # ragged nested lists
        raise ValueError("data must be an array of activations: %s" % e) from None
    if data.dtype.kind == "V" and data.dtype.names is None and data.dtype.name.startswith(("bfloat16", "float")):
        # ml_dtypes' floats (bfloat16, float8_*), as JAX and TensorFlow hand them
        # to numpy: float32 holds each of their values exactly.
        data = data.astype(np.float32)
    check_values(data.shape, str(data.dtype), data.dtype.kind in "iuf", channels_first)
    if channels_first:
        data = np.moveaxis(data, 1, -1)
    units = data.shape[-1]
    flat = data.reshape(-1, units)
    count = flat.shape[0]
    zeros = np.count_nonzero(flat == 0, axis=0)
    if data.dtype.kind == "f":
        finite = np.isfinite(flat)
        abs_sum = np.where(finite, np.abs(flat), 0).sum(axis=0, dtype=np.float64)
        nonfinite = count - np.count_nonzero(finite, axis=0)
    else:
        abs_sum = np.abs(flat.astype(np.float64)).sum(axis=0)
        nonfinite = np.zeros(units, np.int64)
    return {
        "count": int(count),
        "zeros": zeros.astype(np.int64),
        "abs_sum": abs_sum,
        "nonfinite": np.asarray(nonfinite, np.int64),
    }




def empty(units):
    """The sums of nothing, for a layer of ``units`` units (``count`` 0)."""
    return {
        "count": 0,
        "zeros": np.zeros(units, np.int64),
        "abs_sum": np.zeros(units, np.float64),
        "nonfinite": np.zeros(units, np.int64),
    }


def as_numpy(sums):
    """``sums`` from any reduction as exact numpy: int ``count``, int64 and float64 arrays."""
    return {
        "count": int(sums["count"]),
        "zeros": np.asarray(sums["zeros"], np.int64),
        "abs_sum": np.asarray(sums["abs_sum"], np.float64),
        "nonfinite": np.asarray(sums["nonfinite"], np.int64),
    }


def add(total, more):
    """``total + more``, unit by unit (``total`` None means nothing yet)."""
    more = as_numpy(more)
    if total is None:
        return more
    return {name: total[name] + more[name] for name in SUM_NAMES}

