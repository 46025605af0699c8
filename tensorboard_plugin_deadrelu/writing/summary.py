"""Writing Dead ReLU records: a TensorFlow summary op, an accumulator and a numpy twin.

* :func:`activations` is the ``tf.summary.histogram`` of this plugin: it reduces
  a batch of activations to per-unit sums and writes one record to the default
  summary writer.
* :func:`gradients` writes the same record for a batch of gradients of the
  loss with respect to a layer's pre-activations (the layer's gradient series,
  tagged ``<name>/gradients``); :func:`gradients_pb` is its numpy twin.
* :class:`Accumulator` sums many batches (custom training loops, also under
  ``tf.distribute``) and writes one record per layer when asked, e.g. per epoch.
* :func:`activations_pb` builds the same ``Summary`` proto with numpy only, for
  PyTorch, JAX or any event writer.
* :func:`write_stats` writes sums that were reduced elsewhere (the accumulator
  and the Keras callback use it).

The TensorFlow op and the numpy twin write identical counts (``count``,
``zeros``, ``nonfinite``). ``abs_sum`` may differ in its last bits: numpy sums
in float64, while the TensorFlow op sums float32 (and narrower) activations in
float32 within a batch, which keeps recording cheap on the training hot path;
the relative difference is at most about ``n * 2**-24`` for ``n`` values per
unit (1.5e-5 for a batch of 256, typically ~1e-7). Integer and float64
activations are summed in float64 by both. Sums over batches (the
:class:`Accumulator`) are kept in float64; records store ``abs_sum`` as float32.

Inside ``tf.function`` the reduction is compiled with XLA into a single pass,
once per input shape (a fraction of a second each time a new shape is seen,
e.g. the partial last batch); eager calls run it uncompiled.

TensorFlow is imported lazily, so this module imports without it.
"""

import collections.abc
import dataclasses
import re

import numpy as np

from tensorboard.compat.proto import summary_pb2
from tensorboard.util import tensor_util

from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.core import sums as sums_lib
from tensorboard_plugin_deadrelu.writing import distributed


def _tf():
    import tensorflow as tf  # lazy: viewing logs must not need TensorFlow

    return tf


# --------------------------------------------------------------------------
# numpy twin

# The numpy reduction and the record builder live in the core; these are the
# names this module has exported since 0.1.
reduce_activations_np = sums_lib.reduce_np
stats_pb = metadata.summary_pb


def activations_pb(name, data, description=None, channels_first=False):
    """Builds a Dead ReLU record ``Summary`` proto without TensorFlow.

    Args:
      name: Tag of the series, usually the layer name.
      data: Array-like of activations, shape ``[batch, ..., units]`` (anything
        ``numpy.asarray`` accepts, e.g. a CPU ``torch.Tensor``).
      description: Optional markdown description of the series.
      channels_first: Whether the units axis is axis 1 (PyTorch's NCHW).

    Returns:
      A ``tensorboard.compat.proto.summary_pb2.Summary``. Write it with any
      event writer, e.g. ``torch.utils.tensorboard.SummaryWriter``'s
      ``file_writer.add_summary(summary, global_step=step)``.
    """
    return stats_pb(name, description=description, **reduce_activations_np(data, channels_first))


def gradients_pb(name, data, description=None, channels_first=False):
    """Builds the gradient record ``Summary`` of layer ``name`` without TensorFlow.

    The numpy twin of :func:`gradients`: like :func:`activations_pb` for
    ``data`` = the gradients of the loss with respect to the layer's
    pre-activations, tagged :func:`metadata.gradients_tag` ``(name)``.
    """
    metadata.check_tag(name)
    return stats_pb(
        metadata.gradients_tag(name),
        description=description,
        kind=metadata.KIND_GRADIENTS,
        **reduce_activations_np(data, channels_first),
    )


# --------------------------------------------------------------------------
# TensorFlow


def _as_activations(data, channels_first):
    """``data`` as a validated tensor; raises ValueError naming ``data``."""
    tf = _tf()
    try:
        data = tf.convert_to_tensor(data)
    except (TypeError, ValueError) as e:
        raise ValueError("data must be a tensor of activations: %s" % e) from None
    sums_lib.check_values(
        data.shape.as_list() if data.shape.rank is not None else None,
        data.dtype.name,
        (data.dtype.is_floating or data.dtype.is_integer) and data.dtype != tf.bool,
        channels_first,
    )
    return data


_fused_sums_by_key = {}


def _fused_sums_fn(rank, compiled):
    """The reduction as one function, built on first use.

    ``rank`` is 2 for ``[rows, units]`` or 3 for ``[batch, units, positions]``
    (one function each: a function traced with both ranks would be retraced
    with an unknown rank).

    With ``compiled``, XLA fuses the comparison, casts and reductions into one
    pass over the activations; stacking ``|x|`` and ``x == 0`` into one float
    tensor and reducing it once was the fastest form measured on CPU (about
    2/3 of the time of separate integer and float64 reductions, which in turn
    take a third of the time of unfused TensorFlow ops); see
    benchmarks/bench_custom_loop.py for the cost in a training loop. XLA
    compiles once per input shape (a fraction of a second), so eager calls,
    whose shapes are free to change on every call, use the same ops unfused.
    """
    key = (rank, compiled)
    if key not in _fused_sums_by_key:
        tf = _tf()
        axes = [0] if rank == 2 else [0, 3]  # of the values stacked on axis 1
        reduce_axes = [0] if rank == 2 else [0, 2]

        @tf.function(jit_compile=compiled, reduce_retracing=True, autograph=False)
        def fused_sums(grouped):
            # float32 inputs (and narrower) accumulate in float32 within the
            # batch; float64 and integers in float64, so integer sums are exact.
            work_dtype = tf.float32 if grouped.dtype in (tf.float16, tf.bfloat16, tf.float32) else tf.float64
            values = tf.cast(grouped, work_dtype)
            is_zero = tf.equal(grouped, tf.zeros([], grouped.dtype))
            values_per_unit = tf.size(grouped, out_type=tf.int64) // tf.cast(tf.shape(grouped)[1], tf.int64)

            def float_counts():
                sums = tf.reduce_sum(tf.stack([tf.abs(values), tf.cast(is_zero, work_dtype)], axis=1), axes)
                return tf.cast(sums[0], tf.float64), tf.cast(sums[1], tf.int64)

            def integer_counts():
                return (
                    tf.reduce_sum(tf.abs(tf.cast(values, tf.float64)), reduce_axes),
                    tf.reduce_sum(tf.cast(is_zero, tf.int64), reduce_axes),
                )

            # The float sum counts zeros exactly only up to 2**24 values per
            # unit (float32); beyond that, count in int64.
            exact_limit = sums_lib.FLOAT32_EXACT_COUNT if work_dtype == tf.float32 else 2**53
            abs_sum, zeros = tf.cond(values_per_unit <= exact_limit, float_counts, integer_counts)
            if not grouped.dtype.is_floating:
                return zeros, abs_sum, tf.zeros_like(zeros)

            def without_nonfinite():
                finite = tf.math.is_finite(grouped)
                magnitudes = tf.abs(tf.cast(grouped, tf.float64))
                return (
                    tf.reduce_sum(tf.where(finite, magnitudes, 0.0), reduce_axes),
                    tf.reduce_sum(tf.cast(~finite, tf.int64), reduce_axes),
                )

            # A finite sum means every value was finite, so the usual
            # all-finite batch skips a second pass; NaN/Inf (or a float32 sum
            # that overflowed) take it, summing the finite values in float64.
            return (zeros,) + tf.cond(
                tf.reduce_all(tf.math.is_finite(abs_sum)),
                lambda: (abs_sum, tf.zeros_like(zeros)),
                without_nonfinite,
            )

        _fused_sums_by_key[key] = fused_sums
    return _fused_sums_by_key[key]


def _reduce_validated(data, channels_first):
    tf = _tf()
    shape = tf.shape(data, out_type=tf.int64)
    if channels_first:
        # [batch, units, positions] is a free reshape; reducing axes 0 and 2
        # avoids the transpose that moving the units axis last would cost.
        grouped = tf.reshape(data, tf.stack([shape[0], shape[1], -1]))
        count = shape[0] * tf.shape(grouped, out_type=tf.int64)[2]
    else:
        grouped = tf.reshape(data, tf.stack([-1, shape[-1]]))
        count = tf.shape(grouped, out_type=tf.int64)[0]
    sums = _fused_sums_fn(grouped.shape.rank, compiled=not tf.executing_eagerly())
    # Recording is observation: like TensorBoard's own summaries, what is
    # recorded is taken through tf.stop_gradient, so a summary inside a
    # GradientTape adds nothing to the gradients. Applied to the per-unit sums
    # rather than to the batch: on the batch it cost 2-3% of a training step
    # (measured in the Keras monitor's counting step).
    zeros, abs_sum, nonfinite = (tf.stop_gradient(t) for t in sums(grouped))
    return {"count": count, "zeros": zeros, "abs_sum": abs_sum, "nonfinite": nonfinite}


def reduce_activations(data, channels_first=False):
    """Reduces activations to per-unit sums with TensorFlow ops.

    Works eagerly and inside ``tf.function``; the twin of
    :func:`reduce_activations_np` (identical counts; ``abs_sum`` summed in
    float32 for float32 inputs, see the module docstring).

    Returns:
      A dict of tensors: ``count`` (int64 scalar), ``zeros`` and ``nonfinite``
      (int64 ``[units]``), ``abs_sum`` (float64 ``[units]``).

    Raises:
      ValueError: ``data`` is not integer/float, has fewer than 2 axes or no units.
    """
    return _reduce_validated(_as_activations(data, channels_first), channels_first)


def encode_stats(count, zeros, abs_sum, nonfinite):
    """TensorFlow twin of :func:`metadata.encode_record`: the record as a string tensor.

    Decodes to the same values as the numpy encoder (the scalar ``count`` is
    laid out differently inside its ``TensorProto``, so the bytes differ).
    """
    tf = _tf()
    count = tf.cast(count, tf.int64)
    zeros = tf.cast(zeros, tf.int64)
    nonfinite = tf.cast(nonfinite, tf.int64)
    if zeros.shape.rank not in (None, 1):
        raise ValueError("zeros must have shape [units], got %s" % (zeros.shape,))
    fits_int32 = count <= metadata.INT32_LIMIT

    def serialize_counts(values):
        return tf.cond(
            fits_int32,
            lambda: tf.io.serialize_tensor(tf.cast(values, tf.int32)),
            lambda: tf.io.serialize_tensor(values),
        )

    serialized_nonfinite = tf.cond(
        tf.reduce_any(nonfinite != 0),
        lambda: serialize_counts(nonfinite),
        lambda: tf.io.serialize_tensor(tf.zeros([], tf.int32)),
    )
    return tf.stack(
        [
            tf.io.serialize_tensor(count),
            serialize_counts(zeros),
            tf.io.serialize_tensor(tf.cast(abs_sum, tf.float32)),
            serialized_nonfinite,
        ]
    )


def write_stats(
    name, count, zeros, abs_sum, nonfinite, step=None, description=None, order=None,
    kind=metadata.KIND_ACTIVATIONS,
):
    """Writes one record of already-reduced sums to the default summary writer.

    ``order`` is the layer's position in its model and ``kind`` what the sums
    describe (see :func:`metadata.create_summary_metadata`). ``name`` is used
    as the tag as is (no name scope is added; a gradient series is tagged
    :func:`metadata.gradients_tag` of its layer's tag).

    Returns:
      Like ``tf.summary.write``: True on success, False if no default writer
      is set or recording is off.
    """
    metadata.check_tag(name)
    tf = _tf()
    return tf.summary.write(
        tag=name,
        tensor=lambda: encode_stats(count, zeros, abs_sum, nonfinite),
        step=step,
        metadata=metadata.create_summary_metadata(description, kind=kind, order=order, units=_static_units(zeros, -1)),
    )


def activations(name, data, step=None, description=None, channels_first=False):
    """Writes a Dead ReLU record for a batch of activations.

    The ``tf.summary.histogram`` of this plugin: works eagerly and inside
    ``tf.function`` and honours ``tf.summary.record_if``; the reduction runs
    only when the summary is recorded.

    Args:
      name: Tag of the series, usually the layer name; scoped like other
        ``tf.summary`` ops.
      data: A numeric tensor of shape ``[batch, ..., units]``: every axis but
        the last is reduced, so a conv layer's unit is a channel. An empty
        batch writes a record with count 0.
      step: Explicit int64 step; defaults to ``tf.summary.experimental.get_step()``.
      description: Optional markdown description of the series.
      channels_first: Whether the units axis is axis 1 (``NCHW`` layouts).

    Returns:
      True on success, False if no default writer is set or recording is off.

    Raises:
      ValueError: ``data`` is not integer/float, has fewer than 2 axes or no
        units, or ``name`` is empty.
      ValueError: from ``tf.summary.write`` when ``step`` is None and no
        default step is set.

    Example:
      >>> writer = tf.summary.create_file_writer("logs/run1")
      >>> with writer.as_default(step=epoch):
      ...     summary.activations("dense_1", hidden)
    """
    return _write_batch(name, data, step, description, channels_first, metadata.KIND_ACTIVATIONS)


def gradients(name, data, step=None, description=None, channels_first=False):
    """Writes a gradient record of layer ``name`` for a batch of pre-activation gradients.

    ``data`` holds the values of d(loss)/d(pre-activation) of the layer's
    units: for ``a = activation(z)``, the gradient with respect to ``z``, so a
    ReLU unit that is off on an input gets exactly 0 there. The record has the
    layout of :func:`activations` (per unit: values exactly 0, ``|value|``
    summed, NaN/Inf) and is tagged ``<name>/gradients``
    (:func:`metadata.gradients_tag`), so the tab shows it beside the layer's
    activations written with :func:`activations` under the same ``name``.

    For a mean ``|gradient|`` per input that does not depend on the batch
    size, differentiate the *sum* of the per-example losses, not their mean.

    Args:
      name: The layer's tag, as given to :func:`activations`; scoped like
        other ``tf.summary`` ops.
      data: Gradients of shape ``[batch, ..., units]`` (the shape of the
        pre-activations); every axis but the last is reduced.
      step: Explicit int64 step; defaults to ``tf.summary.experimental.get_step()``.
      description: Optional markdown description of the series.
      channels_first: Whether the units axis is axis 1 (``NCHW`` layouts).

    Returns:
      True on success, False if no default writer is set or recording is off.

    Raises:
      ValueError: as for :func:`activations`.

    Example:
      >>> with tf.GradientTape() as tape:
      ...     z = x @ w1 + b1          # pre-activation of layer "hidden"
      ...     tape.watch(z)
      ...     hidden = tf.nn.relu(z)
      ...     loss = tf.reduce_sum(tf.square(hidden @ w2 + b2 - y))  # sum over examples
      >>> dz = tape.gradient(loss, z)
      >>> with writer.as_default(step=epoch):
      ...     summary.activations("hidden", hidden)
      ...     summary.gradients("hidden", dz)
    """
    return _write_batch(name, data, step, description, channels_first, metadata.KIND_GRADIENTS)


def _static_units(tensor, axis):
    """The width of ``tensor`` along its unit ``axis`` when known while tracing, else None
    (the record's metadata then omits it and the plugin reads one record to learn it)."""
    try:
        units = tensor.shape[axis]
    except (IndexError, TypeError):
        return None
    return None if units is None else int(units)


def _write_batch(name, data, step, description, channels_first, kind):
    """Reduces ``data`` and writes it as a record of ``kind`` under the scoped ``name``."""
    metadata.check_tag(name)
    tf = _tf()
    data = _as_activations(data, channels_first)
    with tf.summary.experimental.summary_scope(name, "deadrelu_summary", values=[data, step]) as (tag, _):
        if kind == metadata.KIND_GRADIENTS:
            tag = metadata.gradients_tag(tag)
        return tf.summary.write(
            tag=tag,
            tensor=lambda: encode_stats(**_reduce_validated(data, channels_first)),
            step=step,
            metadata=metadata.create_summary_metadata(
                description, kind=kind, units=_static_units(data, 1 if channels_first else -1)
            ),
        )


# --------------------------------------------------------------------------
# Accumulating over batches (custom training loops)


@dataclasses.dataclass(frozen=True)
class _LayerSums:
    """The variables holding one layer's running sums."""

    units: int
    count: object  # tf.Variable int64 []
    zeros: object  # tf.Variable int64 [units]
    abs_sum: object  # tf.Variable float64 [units]
    nonfinite: object  # tf.Variable int64 [units]

    @property
    def variables(self):
        return (self.count, self.zeros, self.abs_sum, self.nonfinite)


def _in_replica_context_of_a_strategy():
    tf = _tf()
    return tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context()


class Accumulator:
    """Sums Dead ReLU statistics over batches and writes one record per layer.

    For custom training loops: call :meth:`update` with each layer's
    activations on every step (eagerly, inside ``tf.function`` or inside
    ``strategy.run``) and :meth:`write` once per epoch. The sums are exact
    (int64 counts, float64 ``abs_sum``) and cover every batch since the last
    ``write`` or ``reset``.

    Under ``tf.distribute`` the sums live in variables that are summed over
    replicas when read (``ON_READ`` synchronization, ``SUM`` aggregation, as
    Keras metrics do), so a written record counts the whole global batch.
    Create the Accumulator under ``strategy.scope()`` with ``units`` naming
    every layer, because variables cannot be created inside ``strategy.run``.

    Example:
      >>> acc = summary.Accumulator()
      >>> @tf.function
      ... def train_step(x, y):
      ...     loss, hidden = ...   # forward pass that also returns activations
      ...     for i, h in enumerate(hidden):
      ...         acc.update("dense_%d" % i, h)
      >>> for epoch in range(epochs):
      ...     for x, y in dataset:
      ...         train_step(x, y)
      ...     with writer.as_default():
      ...         acc.write(step=epoch)
    """

    def __init__(self, units=None, *, channels_first=False, description=None, kind=metadata.KIND_ACTIVATIONS):
        """Creates an empty accumulator.

        Args:
          units: Optional mapping ``{layer_name: n_units}`` creating the
            variables now, in this order. Needed when :meth:`update` runs in a
            replica context (create the Accumulator under ``strategy.scope()``)
            or when a layer is first updated in a later trace of a
            ``tf.function`` (TensorFlow allows creating variables only on the
            first trace). Without it, each layer's variables are created on
            its first update (eagerly, or on the first trace of a
            ``tf.function``).
          channels_first: Default for :meth:`update`: whether the units axis
            is axis 1 (``NCHW``) rather than the last.
          description: Optional markdown description of every written series.
          kind: What :meth:`update` is given: ``"activations"`` (layer
            outputs), or ``"gradients"`` (gradients of the loss with respect
            to the layers' pre-activations, see :func:`gradients`), whose
            records are tagged ``<layer_name>/gradients``. Use one
            Accumulator per kind.
        """
        if kind not in metadata.KNOWN_KINDS:
            raise ValueError("kind must be one of %r, got %r" % (metadata.KNOWN_KINDS, kind))
        self._kind = kind
        self.channels_first = bool(channels_first)
        self._description = description
        self._layers = {}  # insertion order = the order of records
        if units is not None:
            if not isinstance(units, collections.abc.Mapping):
                raise ValueError("units must be a mapping {layer_name: n_units}, got %r" % (units,))
            for name, n_units in units.items():
                metadata.check_tag(name, "units keys")
                if isinstance(n_units, bool) or not isinstance(n_units, (int, np.integer)) or n_units < 1:
                    raise ValueError("units[%r] must be a positive int, got %r" % (name, n_units))
                self._create(name, int(n_units))

    @property
    def names(self):
        """Layer names in insertion order (the ``order`` of their records)."""
        return list(self._layers)

    @property
    def variables(self):
        """All variables of the accumulator (for checkpointing or inspection)."""
        return [v for layer in self._layers.values() for v in layer.variables]

    def _create(self, name, units):
        tf = _tf()
        safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", name)

        def variable(stat, shape, dtype):
            return tf.Variable(
                tf.zeros(shape, dtype),
                trainable=False,
                name="deadrelu_%s_%s" % (safe, stat),
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.SUM,
            )

        # Lifted out of any tf.function being traced, so that the variables
        # outlive the trace (tf.function allows this on its first trace only).
        with tf.init_scope():
            layer = _LayerSums(
                units=units,
                count=variable("count", [], tf.int64),
                zeros=variable("zeros", [units], tf.int64),
                abs_sum=variable("abs_sum", [units], tf.float64),
                nonfinite=variable("nonfinite", [units], tf.int64),
            )
        self._layers[name] = layer
        return layer

    def update(self, name, data, channels_first=None):
        """Adds one batch of layer ``name``'s activations to its sums.

        Args:
          name: Layer name; the tag of its records.
          data: Activations of shape ``[batch, ..., units]`` (or
            ``[batch, units, ...]`` with ``channels_first``); integer or float.
            The units axis must have a static size.
          channels_first: Overrides the Accumulator's default for this call.

        Raises:
          ValueError: ``name`` is empty or unknown in a replica context;
            ``data`` is not numeric, has no units axis, or its number of
            units differs from earlier updates of ``name``.
        """
        metadata.check_tag(name)
        channels_first = self.channels_first if channels_first is None else bool(channels_first)
        data = _as_activations(data, channels_first)
        shape = data.shape.as_list() if data.shape.rank is not None else None
        units = None if shape is None else shape[1 if channels_first else -1]
        layer = self._layers.get(name)
        if layer is None:
            if _in_replica_context_of_a_strategy():
                raise ValueError(
                    "name %r is not a layer of this Accumulator (it knows %r); variables "
                    "cannot be created inside strategy.run: create the Accumulator under "
                    "strategy.scope() with units={%r: n_units, ...}" % (name, self.names, name)
                )
            if units is None:
                raise ValueError(
                    "data must have a units axis of known size to create layer %r, got "
                    "shape %s; or declare it with Accumulator(units={%r: n_units})"
                    % (name, data.shape, name)
                )
            layer = self._create(name, units)
        elif units is not None and units != layer.units:
            raise ValueError(
                "data has %d units (shape %s) but layer %r has %d units"
                % (units, data.shape, name, layer.units)
            )
        batch = _reduce_validated(data, channels_first)
        layer.count.assign_add(batch["count"])
        layer.zeros.assign_add(batch["zeros"])
        layer.abs_sum.assign_add(batch["abs_sum"])
        layer.nonfinite.assign_add(batch["nonfinite"])

    def write(self, step=None):
        """Writes one record per layer with the sums since the last write, then resets.

        Records go to the default summary writer in insertion order, each
        with ``order`` = its index, tagged with the layer name (plus
        ``/gradients`` for an Accumulator of ``kind="gradients"``). The sums are reset even when nothing is
        recorded (no writer, ``record_if`` off), so every record covers only
        the batches since the previous ``write`` call. Call it outside
        ``strategy.run``.

        Under ``MultiWorkerMirroredStrategy`` call it on every worker: each
        one takes part in summing the sums over workers, and only the chief
        writes (see :mod:`distributed`).

        Args:
          step: Explicit int64 step; defaults to ``tf.summary.experimental.get_step()``.

        Returns:
          Like ``tf.summary`` ops: a bool tensor, True if every record was
          written, False if there is no default writer, recording is off, no
          layer was updated yet, or this is a non-chief worker.
        """
        tf = _tf()
        if _in_replica_context_of_a_strategy():
            raise ValueError("Accumulator.write must be called outside strategy.run (cross-replica context)")
        gradients = self._kind == metadata.KIND_GRADIENTS
        # Multi-worker: every worker reads (all-reduces) the sums, only the chief writes.
        sums, writes_here = distributed.tf_sums_to_write([layer.variables for layer in self._layers.values()])
        written = [
            write_stats(
                metadata.gradients_tag(name) if gradients else name,
                *layer_sums,
                step=step,
                description=self._description,
                order=order,
                kind=self._kind,
            )
            for order, (name, layer_sums) in enumerate(zip(self._layers, sums))
        ] if writes_here else []
        self.reset()
        if not written:
            return tf.constant(False)
        return tf.reduce_all(tf.stack(written))

    def result(self):
        """The current sums as numpy, summed over replicas (call eagerly).

        Returns:
          ``{name: {"count": int, "zeros": int64 [units], "abs_sum": float64
          [units], "nonfinite": int64 [units]}}`` in insertion order.
        """
        return {
            name: {
                "count": int(layer.count.read_value().numpy()),
                "zeros": layer.zeros.read_value().numpy().astype(np.int64),
                "abs_sum": layer.abs_sum.read_value().numpy().astype(np.float64),
                "nonfinite": layer.nonfinite.read_value().numpy().astype(np.int64),
            }
            for name, layer in self._layers.items()
        }

    def reset(self):
        """Sets every sum to zero (outside ``strategy.run``)."""
        for variable in self.variables:
            variable.assign(_tf().zeros(variable.shape, variable.dtype))
