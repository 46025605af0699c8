"""Writing Dead ReLU records: a TensorFlow summary op and its numpy twin.

* :func:`activations` is the ``tf.summary.histogram`` of this plugin: it reduces
  a batch of activations to per-unit sums and writes one record to the default
  summary writer.
* :func:`activations_pb` builds the same ``Summary`` proto with numpy only, for
  PyTorch, JAX or any event writer.
* :func:`write_stats` writes sums that were reduced elsewhere (the accumulator
  and the Keras callback use it).

TensorFlow is imported lazily, so this module imports without it.
"""

import numpy as np

from tensorboard.compat.proto import summary_pb2
from tensorboard.util import tensor_util

from tensorboard_plugin_deadrelu import metadata


def _tf():
    import tensorflow as tf  # lazy: viewing logs must not need TensorFlow

    return tf


# --------------------------------------------------------------------------
# Validation shared by both writers


def _check_shape_and_dtype(shape, dtype_name, is_numeric):
    """Raises ValueError naming ``data`` if it cannot hold activations."""
    if not is_numeric:
        raise ValueError(
            "data must be a numeric tensor of activations, got dtype %s" % dtype_name
        )
    if shape is not None and len(shape) < 2:
        raise ValueError(
            "data must have a batch axis and a units axis (shape [batch, ..., units]), "
            "got shape %s" % (tuple(shape),)
        )


def _check_name(name):
    if not isinstance(name, str) or not name:
        raise ValueError("name must be a non-empty string, got %r" % (name,))


# --------------------------------------------------------------------------
# numpy twin


def reduce_activations_np(data, channels_first=False):
    """Reduces activations to per-unit sums with numpy.

    Args:
      data: Array-like of shape ``[batch, ..., units]`` (or ``[batch, units, ...]``
        with ``channels_first=True``).
      channels_first: Whether the units (channels) axis is axis 1.

    Returns:
      A dict with ``count`` (int), ``zeros``, ``abs_sum``, ``nonfinite``
      (arrays of shape ``[units]``).
    """
    data = np.asarray(data)
    _check_shape_and_dtype(
        data.shape, str(data.dtype), data.dtype.kind in "iuf"
    )
    if channels_first:
        data = np.moveaxis(data, 1, -1)
    units = data.shape[-1]
    flat = data.reshape(-1, units)
    count = flat.shape[0]
    if data.dtype.kind == "f":
        finite = np.isfinite(flat)
        zeros = np.count_nonzero(flat == 0, axis=0)
        abs_sum = np.where(finite, np.abs(flat), 0).sum(axis=0, dtype=np.float64)
        nonfinite = count - np.count_nonzero(finite, axis=0)
    else:
        zeros = np.count_nonzero(flat == 0, axis=0)
        abs_sum = np.abs(flat.astype(np.float64)).sum(axis=0)
        nonfinite = np.zeros(units, np.int64)
    return {
        "count": int(count),
        "zeros": zeros.astype(np.int64),
        "abs_sum": abs_sum,
        "nonfinite": np.asarray(nonfinite, np.int64),
    }


def stats_pb(name, count, zeros, abs_sum, nonfinite, description=None):
    """Builds a record ``Summary`` from sums that were already reduced."""
    _check_name(name)
    tensor = tensor_util.make_tensor_proto(
        metadata.encode_record(count, zeros, abs_sum, nonfinite)
    )
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=name,
        metadata=metadata.create_summary_metadata(description),
        tensor=tensor,
    )
    return summary


def activations_pb(name, data, description=None, channels_first=False):
    """Builds a Dead ReLU record ``Summary`` proto without TensorFlow.

    Args:
      name: Tag of the series, usually the layer name.
      data: Array-like of activations, shape ``[batch, ..., units]``.
      description: Optional markdown description of the series.
      channels_first: Whether the units axis is axis 1 (PyTorch's NCHW).

    Returns:
      A ``tensorboard.compat.proto.summary_pb2.Summary``. Write it with any
      event writer, e.g. ``torch.utils.tensorboard.SummaryWriter``'s
      ``file_writer.add_summary(summary, global_step=step)``.
    """
    return stats_pb(name, description=description, **reduce_activations_np(data, channels_first))


# --------------------------------------------------------------------------
# TensorFlow


def reduce_activations(data, channels_first=False):
    """Reduces activations to per-unit sums with TensorFlow ops.

    Works eagerly and inside ``tf.function``.

    Returns:
      A dict of tensors: ``count`` (int64 scalar), ``zeros`` and ``nonfinite``
      (int64 ``[units]``), ``abs_sum`` (float64 ``[units]``).
    """
    tf = _tf()
    data = tf.convert_to_tensor(data)
    _check_shape_and_dtype(
        data.shape.as_list() if data.shape.rank is not None else None,
        data.dtype.name,
        data.dtype.is_floating or data.dtype.is_integer,
    )
    if channels_first:
        data = tf.experimental.numpy.moveaxis(data, 1, -1)
    units = tf.shape(data)[-1]
    flat = tf.reshape(data, [-1, units])
    count = tf.cast(tf.shape(flat)[0], tf.int64)
    is_zero = tf.equal(flat, tf.zeros([], flat.dtype))
    zeros = tf.reduce_sum(tf.cast(is_zero, tf.int64), axis=0)
    if data.dtype.is_floating:
        finite = tf.math.is_finite(flat)
        abs_values = tf.where(finite, tf.abs(flat), tf.zeros([], flat.dtype))
        # float32 sums within a batch are accurate enough; accumulate in float64.
        abs_sum = tf.cast(tf.reduce_sum(abs_values, axis=0), tf.float64)
        nonfinite = count - tf.reduce_sum(tf.cast(finite, tf.int64), axis=0)
    else:
        abs_sum = tf.reduce_sum(tf.abs(tf.cast(flat, tf.float64)), axis=0)
        nonfinite = tf.zeros([units], tf.int64)
    return {"count": count, "zeros": zeros, "abs_sum": abs_sum, "nonfinite": nonfinite}


def encode_stats(count, zeros, abs_sum, nonfinite):
    """TensorFlow twin of :func:`metadata.encode_record`: the record as a string tensor."""
    tf = _tf()
    count = tf.cast(count, tf.int64)
    zeros = tf.cast(zeros, tf.int64)
    nonfinite = tf.cast(nonfinite, tf.int64)
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


def write_stats(name, count, zeros, abs_sum, nonfinite, step=None, description=None, order=None):
    """Writes one record of already-reduced sums to the default summary writer.

    ``order`` is the layer's position in its model (see
    :func:`metadata.create_summary_metadata`).

    Returns:
      Like ``tf.summary.write``: True on success, False if no default writer
      is set or recording is off.
    """
    _check_name(name)
    tf = _tf()
    return tf.summary.write(
        tag=name,
        tensor=lambda: encode_stats(count, zeros, abs_sum, nonfinite),
        step=step,
        metadata=metadata.create_summary_metadata(description, order=order),
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
        the last is reduced, so a conv layer's unit is a channel.
      step: Explicit int64 step; defaults to ``tf.summary.experimental.get_step()``.
      description: Optional markdown description of the series.
      channels_first: Whether the units axis is axis 1 (``NCHW`` layouts).

    Returns:
      True on success, False if no default writer is set or recording is off.

    Raises:
      ValueError: ``data`` is not numeric or has no units axis, or ``name``
        is empty.
      ValueError: from ``tf.summary.write`` when ``step`` is None and no
        default step is set.

    Example:
      >>> writer = tf.summary.create_file_writer("logs/run1")
      >>> with writer.as_default(step=epoch):
      ...     summary.activations("dense_1", hidden)
    """
    _check_name(name)
    tf = _tf()
    data = tf.convert_to_tensor(data)
    _check_shape_and_dtype(
        data.shape.as_list() if data.shape.rank is not None else None,
        data.dtype.name,
        data.dtype.is_floating or data.dtype.is_integer,
    )
    with tf.summary.experimental.summary_scope(name, "deadrelu_summary", values=[data, step]) as (tag, _):
        return tf.summary.write(
            tag=tag,
            tensor=lambda: encode_stats(**reduce_activations(data, channels_first)),
            step=step,
            metadata=metadata.create_summary_metadata(description),
        )
