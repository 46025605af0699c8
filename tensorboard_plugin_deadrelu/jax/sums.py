"""Per-unit sums carried through a jitted JAX train step, and the reduction that adds a batch to them.

The reduction is :mod:`tensorboard_plugin_deadrelu.core.sums`'s one rule,
written with ``jax.numpy`` so it traces into the user's ``jax.jit`` step (and
``lax.scan``, and ``jit`` over data sharded on a mesh: reductions over a
sharded batch axis are global sums, XLA adds the collective):

* ``count``: values per unit (every axis but the units axis);
* ``zeros``: values exactly equal to 0 (``-0.0`` included; NaN, +-Inf never);
* ``abs_sum``: the sum of ``|value|`` over the finite values;
* ``nonfinite``: NaN and +-Inf values.

How the sums are kept, with fixed shapes and dtypes so the step never
recompiles, and without ``jax_enable_x64`` (JAX has no int64 by default):

* ``count``, ``zeros`` and ``nonfinite`` are uint32 word pairs
  ``[low word, high word]`` (shape ``[2]`` and ``[2, units]``); a batch's
  counts are added to the low word and its wrap-around carried into the high
  word (:func:`add_to_pair`), so counts are exact up to 2**64;
* ``abs_sum`` is a float32 pair ``[sum, compensation]``: each batch is summed
  in float32 (float64 for float64 and integer inputs when ``jax_enable_x64``
  is on), and batches are added with Kahan compensated summation
  (:func:`kahan_add`), so the total over many batches stays about as accurate
  as a float64 sum (the error no longer grows with the number of batches).

:func:`to_numpy` turns the pairs, once read from the device, into the exact
numpy sums of :mod:`core.sums` (int counts, float64 ``abs_sum``).

The Keras JAX counter (``keras/counting.py``) keeps its sums the same way with
``keras.ops`` versions of these helpers; those serve every Keras backend's ops
layer, so they were left there.
"""

import numpy as np

import jax
import jax.numpy as jnp

SUM_NAMES = ("count", "zeros", "abs_sum", "nonfinite")
_WORD = 2**32
# A float32 sum of 0/1 values counts exactly up to this many values per unit.
_FLOAT32_EXACT_COUNT = 2**24


def add_to_pair(pair, addend):
    """Adds ``addend`` (non-negative, < 2**32) to a uint32 ``[low word, high word]`` pair, with carry.

    ``pair`` has shape ``[2, ...]`` and ``addend`` the shape of ``pair[0]``
    (or broadcasts to it); exact up to 2**64. A Python int ``addend`` of any
    size below 2**64 is split into its two words.
    """
    if isinstance(addend, int):
        if not 0 <= addend < 2**64:
            raise ValueError("addend must be in [0, 2**64), got %d" % addend)
        low_add, high_add = addend % _WORD, addend // _WORD
    else:
        low_add, high_add = jnp.asarray(addend).astype(jnp.uint32), 0
    low = pair[0] + jnp.asarray(low_add, jnp.uint32)  # wraps around modulo 2**32
    carry = (low < pair[0]).astype(jnp.uint32)
    high = pair[1] + carry + jnp.asarray(high_add, jnp.uint32)
    return jnp.stack([low, high])


def pair_to_int(pair):
    """The exact count(s) held by uint32 ``[low word, high word]`` pairs, as numpy int64 (or uint64 past 2**63)."""
    pair = np.asarray(pair)
    total = pair[0].astype(np.uint64) + (pair[1].astype(np.uint64) << np.uint64(32))
    if total.size == 0 or total.max() < 2**63:
        return total.astype(np.int64)
    return total


def kahan_add(pair, addend):
    """Adds ``addend`` to a float32 ``[sum, compensation]`` pair with Kahan compensated summation.

    The total is ``pair[0] - pair[1]`` (see :func:`pair_total`).
    """
    total, compensation = pair[0], pair[1]
    corrected = jnp.asarray(addend).astype(total.dtype) - compensation
    new_total = total + corrected
    compensation = (new_total - total) - corrected
    # Past float32's range the total is +Inf (as a record would store it), not Inf - NaN.
    compensation = jnp.where(jnp.isfinite(new_total), compensation, 0)
    return jnp.stack([new_total, compensation])


def pair_total(pair):
    """The float64 total of a numpy float32 ``[sum, compensation]`` pair."""
    pair = np.asarray(pair, np.float64)
    return pair[0] - pair[1]


@jax.tree_util.register_pytree_node_class
class Sums:
    """The running per-unit sums of several layers: a pytree to carry through ``jax.jit`` and ``lax.scan``.

    Layer names and their order (the model's order, which the tab keeps) are
    static: two ``Sums`` with the same names and widths have the same tree
    structure, so passing one into a jitted step never recompiles. The leaves
    per layer are ``count`` (uint32 ``[2]``), ``zeros`` and ``nonfinite``
    (uint32 ``[2, units]``, word pairs) and ``abs_sum`` (float32 ``[2,
    units]``, sum and Kahan compensation). Make one with :func:`zeros`.

    ``sums[name]`` is that layer's dict of the four (paired) arrays;
    :attr:`names` the layer names in order; :attr:`units` their widths.
    """

    def __init__(self, names, layers):
        self.names = tuple(names)
        self.layers = tuple(layers)  # per layer: a dict of the four arrays

    def tree_flatten(self):
        children = tuple(tuple(layer[key] for key in SUM_NAMES) for layer in self.layers)
        return children, self.names

    @classmethod
    def tree_unflatten(cls, names, children):
        return cls(names, [dict(zip(SUM_NAMES, leaves)) for leaves in children])

    def __getitem__(self, name):
        try:
            return self.layers[self.names.index(name)]
        except ValueError:
            raise KeyError(name) from None

    def __contains__(self, name):
        return name in self.names

    def __iter__(self):
        return iter(self.names)

    def __len__(self):
        return len(self.names)

    @property
    def units(self):
        """``{name: number of units}``."""
        return {name: int(np.shape(layer["zeros"])[-1]) for name, layer in zip(self.names, self.layers)}

    def __repr__(self):
        return "Sums(%s)" % ", ".join("%s=%d" % item for item in self.units.items())


def _layer_zeros(units):
    return {
        "count": jnp.zeros((2,), jnp.uint32),
        "zeros": jnp.zeros((2, units), jnp.uint32),
        "abs_sum": jnp.zeros((2, units), jnp.float32),
        "nonfinite": jnp.zeros((2, units), jnp.uint32),
    }


def zeros(units):
    """Empty sums for the layers ``units`` names: ``{name: number of units}`` in the model's order.

    Returns:
      A :class:`Sums` pytree of zeros, to carry through the train step.

    Raises:
      ValueError: ``units`` is not a non-empty dict of str -> int >= 1.
    """
    if not isinstance(units, dict) or not units:
        raise ValueError("units must be a non-empty dict {layer name: number of units}, got %r" % (units,))
    for name, width in units.items():
        if not isinstance(name, str) or not name:
            raise ValueError("units: layer names must be non-empty strings, got %r" % (name,))
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
            raise ValueError("units: %r must have an int number of units >= 1, got %r" % (name, width))
    return Sums(units.keys(), [_layer_zeros(int(width)) for width in units.values()])


def zeros_like(sums):
    """Sums of the same layers and widths as ``sums``, all zero (e.g. after :func:`Writer.write`)."""
    check_sums(sums)
    return jax.tree_util.tree_map(jnp.zeros_like, sums)


def check_sums(sums):
    """Raises ValueError naming ``sums`` unless it is a :class:`Sums`."""
    if not isinstance(sums, Sums):
        raise ValueError("sums must be the Sums from deadrelu.zeros(...), got %r" % (type(sums).__name__,))


def batch_sums(values, channels_first=False):
    """One batch's per-unit sums by the rule of :mod:`core.sums`: ``(count, zeros, abs_sum, nonfinite)``.

    ``count`` is a Python int (shapes are static under ``jit``); ``zeros``
    and ``nonfinite`` are uint32 ``[units]`` (exact: a batch has fewer than
    2**32 values per unit); ``abs_sum`` is float32 ``[units]`` (float64 for
    float64 and integer inputs when ``jax_enable_x64`` is on). Gradients do
    not flow through it.

    Raises:
      ValueError: ``values`` is not integer/float, has fewer than 2 axes, no
        units, or 2**32 or more values per unit.
    """
    x = jax.lax.stop_gradient(jnp.asarray(values))
    dtype = x.dtype
    if not (jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating)) or dtype == jnp.bool_:
        raise ValueError("activations must be a real integer or float array, got dtype %s" % dtype)
    if x.ndim < 2:
        raise ValueError("activations must have a batch axis and a units axis (shape [batch, ..., units]), got shape %s"
                         % (x.shape,))
    if channels_first:
        x = jnp.moveaxis(x, 1, -1)
    units = x.shape[-1]
    if units == 0:
        raise ValueError("activations have no units: shape %s" % (tuple(values.shape),))
    count = int(np.prod(x.shape[:-1], dtype=np.int64))
    if count >= _WORD:
        raise ValueError("one batch has %d values per unit; add at most 2**32 - 1 at a time" % count)
    flat = x.reshape(count, units)
    x64 = bool(jax.config.read("jax_enable_x64"))
    work = jnp.float64 if x64 and dtype in (jnp.float64, jnp.int64, jnp.uint64, jnp.int32, jnp.uint32) else jnp.float32
    exact_count = _FLOAT32_EXACT_COUNT if work == jnp.float32 else 2**53
    if jnp.issubdtype(dtype, jnp.floating) and count <= exact_count:
        return (count,) + _float_sums(flat, work)
    if jnp.issubdtype(dtype, jnp.floating):
        finite = jnp.isfinite(flat)
        magnitudes = jnp.where(finite, jnp.abs(flat.astype(work)), 0)
        nonfinite = jnp.sum(~finite, axis=0, dtype=jnp.uint32)
    else:
        magnitudes = jnp.abs(flat.astype(work))
        nonfinite = jnp.zeros((units,), jnp.uint32)
    zero_count = jnp.sum(flat == 0, axis=0, dtype=jnp.uint32)
    abs_sum = jnp.sum(magnitudes, axis=0, dtype=work)
    return count, zero_count, abs_sum, nonfinite


def _float_sums(flat, work):
    """``(zeros, abs_sum, nonfinite)`` of float ``flat`` ``[rows, units]`` in one reduction, usually.

    ``|x|`` and ``x == 0`` are stacked and summed in one pass in ``work``
    (exact counts while rows fit its mantissa). A finite ``abs_sum`` means no
    value was NaN or Inf, so the usual all-finite batch is done; otherwise a
    second pass (``lax.cond``: only then) sums the finite values and counts
    the others. Measured on CPU for a 256 x 1024 ReLU output: 156 us against
    373 us for three separate reductions (benchmarks/bench_jax_counting.py
    measures the cost in a training step).
    """
    stacked = jnp.stack([jnp.abs(flat.astype(work)), (flat == 0).astype(work)], axis=1)
    totals = jnp.sum(stacked, axis=0)
    zeros = totals[1].astype(jnp.uint32)

    def all_finite(_):
        return totals[0], jnp.zeros(flat.shape[1], jnp.uint32)

    def some_nonfinite(_):
        finite = jnp.isfinite(flat)
        return (
            jnp.sum(jnp.where(finite, jnp.abs(flat.astype(work)), 0), axis=0, dtype=work),
            jnp.sum(~finite, axis=0, dtype=jnp.uint32),
        )

    abs_sum, nonfinite = jax.lax.cond(jnp.all(jnp.isfinite(totals[0])), all_finite, some_nonfinite, None)
    return zeros, abs_sum, nonfinite


def add(sums, activations, channels_first=False):
    """``sums`` plus one batch of activations per layer; traceable inside ``jax.jit`` / ``lax.scan``.

    Args:
      sums: The :class:`Sums` carried so far (from :func:`zeros`).
      activations: ``{name: array [batch, ..., units]}`` for some or all of
        ``sums``' layers (the units axis last; every other axis is reduced).
        A layer left out gets nothing added.
      channels_first: True when the units axis is axis 1 (``NCHW``), or a
        ``{name: bool}`` dict per layer.

    Returns:
      New :class:`Sums` of the same structure (no recompilation across steps).

    Raises:
      ValueError: an unknown layer name, or an activation whose number of
        units differs from the layer's in ``sums`` (checked while tracing).
    """
    check_sums(sums)
    if not isinstance(activations, dict):
        raise ValueError("activations must be a dict {layer name: array}, got %r" % (type(activations).__name__,))
    unknown = [name for name in activations if name not in sums.names]
    if unknown:
        raise ValueError("activations: unknown layer(s) %s; the sums have %s" % (unknown, list(sums.names)))
    if isinstance(channels_first, dict):
        bad = [name for name in channels_first if name not in sums.names]
        if bad:
            raise ValueError("channels_first: unknown layer(s) %s" % bad)
    widths = sums.units
    layers = []
    for name, layer in zip(sums.names, sums.layers):
        if name not in activations:
            layers.append(layer)
            continue
        first = channels_first.get(name, False) if isinstance(channels_first, dict) else bool(channels_first)
        count, zero_count, abs_sum, nonfinite = batch_sums(activations[name], first)
        if zero_count.shape[0] != widths[name]:
            raise ValueError("activations[%r] has %d units (axis %d of shape %s), the sums have %d"
                             % (name, zero_count.shape[0], 1 if first else -1, tuple(jnp.shape(activations[name])),
                                widths[name]))
        layers.append({
            "count": add_to_pair(layer["count"], count),
            "zeros": add_to_pair(layer["zeros"], zero_count),
            "abs_sum": kahan_add(layer["abs_sum"], abs_sum),
            "nonfinite": add_to_pair(layer["nonfinite"], nonfinite),
        })
    return Sums(sums.names, layers)


def to_numpy(sums):
    """``{name: the four sums of core.sums}`` (int ``count``, int64/float64 arrays) from host-side ``sums``.

    ``sums`` should already be on the host (``jax.device_get``); device
    arrays are read one by one.
    """
    check_sums(sums)
    result = {}
    for name, layer in zip(sums.names, sums.layers):
        result[name] = {
            "count": int(pair_to_int(layer["count"])),
            "zeros": pair_to_int(layer["zeros"]),
            "abs_sum": pair_total(layer["abs_sum"]),
            "nonfinite": pair_to_int(layer["nonfinite"]),
        }
    return result
