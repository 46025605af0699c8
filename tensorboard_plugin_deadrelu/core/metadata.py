"""The one home of the Dead ReLU record format, shared by writers and readers.

A *record* holds, for one layer (tag) at one step, four per-unit sums over every
value of the layer's output that was observed (the last axis is the unit axis;
all other axes are reduced, so a conv layer's unit is a channel):

* ``count``     values observed per unit (batch x spatial positions), one int;
* ``zeros``     values exactly equal to 0 (``-0.0`` included; NaN/Inf never);
* ``abs_sum``   sum of ``|value|`` over finite values;
* ``nonfinite`` NaN or +-Inf values.

All four are additive, so records merge over steps or replicas by summing. A
unit is *dead* in a record when ``zeros == count`` and ``count > 0``.

On disk a record is a TensorBoard tensor summary (``DATA_CLASS_TENSOR``) whose
tensor is a 1-D string tensor of four elements, each a serialized
``TensorProto`` holding one of the sums, in the order of :data:`STAT_NAMES`.
Nesting lets each sum keep its own compact dtype (int32 counts while they fit,
float32 ``abs_sum``, a scalar ``nonfinite`` when no unit saw a NaN/Inf), which
keeps a record at about 8 bytes per unit; a single numeric tensor would need
int64 for exact counts *and* a float for ``abs_sum``. ``PluginData.content``
holds a small JSON object with the record version.

This module imports only numpy and TensorBoard's protos: the TensorBoard plugin
and the numpy writer use it without TensorFlow.
"""

import dataclasses
import json

import numpy as np

from tensorboard.compat.proto import summary_pb2
from tensorboard.compat.proto import tensor_pb2
from tensorboard.compat.proto import types_pb2
from tensorboard.util import tensor_util

from tensorboard_plugin_deadrelu.core import analysis

PLUGIN_NAME = "deadrelu"

# Bump when the meaning or layout of a record changes; readers skip records
# with a version they do not know and say so.
RECORD_VERSION = 1

# What a series of records describes. Activations: the layer's output values.
# Gradients: the values of d(loss)/d(pre-activation) of each unit on the same
# probe inputs, in the same record layout (so a "dead" gradient unit got an
# exactly-zero gradient on every probe input).
KIND_ACTIVATIONS = "activations"
KIND_GRADIENTS = "gradients"
# Recycled: the units a remedy (ReDo, the torch monitor's ``recycle``) re-drew
# at that step, in the same record layout: ``count`` 1 and ``zeros[u]`` 1 for
# each recycled unit, 0 elsewhere (``abs_sum`` and ``nonfinite`` 0), so summing
# a series over steps counts each unit's resets. Readers before 0.3 skip such
# series with a message (they reject unknown kinds).
KIND_RECYCLED = "recycled"
KNOWN_KINDS = (KIND_ACTIVATIONS, KIND_GRADIENTS, KIND_RECYCLED)

# A layer's gradient series is tagged like its activation series plus this.
GRADIENTS_TAG_SUFFIX = "/gradients"
# A layer's series of recycled units is tagged like its activation series plus this.
RECYCLED_TAG_SUFFIX = "/recycled"

STAT_NAMES = ("count", "zeros", "abs_sum", "nonfinite")

# Counts are stored as int32 while they fit, int64 beyond.
INT32_LIMIT = np.iinfo(np.int32).max


def gradients_tag(layer_tag):
    """The tag of the gradient series belonging to the activation series ``layer_tag``."""
    return layer_tag + GRADIENTS_TAG_SUFFIX


def recycled_tag(layer_tag):
    """The tag of the series of recycled units belonging to the activation series ``layer_tag``."""
    return layer_tag + RECYCLED_TAG_SUFFIX


def recycled_sums(units, recycled):
    """The four sums of a ``"recycled"`` record: ``count`` 1, ``zeros[u]`` 1 for each ``u`` in ``recycled``.

    Args:
      units: The layer's width.
      recycled: The indices of the units reset at that step.
    """
    zeros = np.zeros(int(units), np.int64)
    zeros[np.asarray(recycled, dtype=np.int64)] = 1
    return {"count": 1, "zeros": zeros, "abs_sum": np.zeros(int(units), np.float32), "nonfinite": np.zeros((), np.int64)}


class RecordError(ValueError):
    """A record or its metadata that this version cannot read; the message says why."""


@dataclasses.dataclass(frozen=True)
class PluginContent:
    """What ``PluginData.content`` of a Dead ReLU series says."""

    version: int
    kind: str
    # Position of the layer in its model, so the tab can show layers in model
    # order rather than by name; None when the writer did not say.
    order: object = None
    # The layer's width, so TensorBoard's listing alone describes a layer
    # without reading a record; None in records written before 0.2.
    units: object = None


@dataclasses.dataclass(frozen=True)
class Record:
    """The decoded sums of one record; per-unit arrays have shape ``[units]``."""

    count: int
    zeros: np.ndarray  # int64
    abs_sum: np.ndarray  # float64
    nonfinite: np.ndarray  # int64

    @property
    def units(self):
        return self.zeros.shape[0]

    @property
    def dead(self):
        """Boolean ``[units]``: units that output exactly zero on every observed value."""
        return analysis.dead_mask(np.array([self.count], dtype=np.int64), self.zeros[None, :])[0]


def create_summary_metadata(description=None, kind=KIND_ACTIVATIONS, order=None, units=None):
    """Returns the ``SummaryMetadata`` every Dead ReLU summary carries.

    Args:
      description: Optional markdown shown with the series.
      kind: What the series records; one of :data:`KNOWN_KINDS`.
      order: Optional int, the layer's position in its model (readers sort
        layers by it).
      units: Optional int >= 0, the layer's width; lets the plugin list the
        layer from TensorBoard's metadata without reading a record. Readers
        of version 1 without it (0.1.0) ignore the key.
    """
    if kind not in KNOWN_KINDS:
        raise ValueError("kind must be one of %r, got %r" % (KNOWN_KINDS, kind))
    header = {"version": RECORD_VERSION, "kind": kind}
    if order is not None:
        header["order"] = int(order)
    if units is not None:
        if int(units) < 0:
            raise ValueError("units must be an int >= 0, got %r" % (units,))
        header["units"] = int(units)
    content = json.dumps(header, sort_keys=True)
    return summary_pb2.SummaryMetadata(
        summary_description=description or "",
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=content.encode("utf-8")
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def parse_plugin_content(content):
    """Parses ``PluginData.content`` into a :class:`PluginContent`.

    Raises:
      RecordError: the content is not JSON of this plugin, or its version is
        newer than this reader knows.
    """
    try:
        parsed = json.loads(bytes(content).decode("utf-8"))
        version = int(parsed["version"])
        kind = str(parsed.get("kind", KIND_ACTIVATIONS))
        order = parsed.get("order")
        order = None if order is None else int(order)
        units = parsed.get("units")
        units = None if units is None else int(units)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as e:
        raise RecordError("plugin content is not a Dead ReLU header: %s" % e) from None
    if version != RECORD_VERSION:
        raise RecordError(
            "record version %d is not supported (this reader knows version %d); "
            "upgrade tensorboard-plugin-deadrelu" % (version, RECORD_VERSION)
        )
    return PluginContent(version=version, kind=kind, order=order, units=units)


def count_dtype(count):
    """The numpy dtype used on disk for per-unit counts of a record with ``count`` values."""
    return np.int32 if count <= INT32_LIMIT else np.int64


def encode_record(count, zeros, abs_sum, nonfinite):
    """Encodes the four sums as the record tensor (a numpy array of 4 ``bytes``).

    This is the numpy twin of the TensorFlow encoder in ``summary.py``; both
    decode to the same values (the scalar ``count`` is laid out differently
    inside its ``TensorProto``, so the bytes are not identical).

    Raises:
      ValueError: the sums have inconsistent shapes or counts; the message
        names the argument.
    """
    count = int(count)
    if count < 0:
        raise ValueError("count must be >= 0, got %d" % count)
    zeros = np.asarray(zeros)
    if zeros.ndim != 1:
        raise ValueError("zeros must have shape [units], got %s" % (zeros.shape,))
    units = zeros.shape[0]
    if np.shape(abs_sum) != (units,):
        raise ValueError("abs_sum must have shape [%d] like zeros, got %s" % (units, np.shape(abs_sum)))
    nonfinite = np.asarray(nonfinite)
    if nonfinite.shape not in ((), (units,)):
        raise ValueError("nonfinite must have shape [] or [%d], got %s" % (units, nonfinite.shape))
    if np.any(zeros < 0) or np.any(nonfinite < 0) or np.any(zeros.astype(np.int64) + nonfinite.astype(np.int64) > count):
        raise ValueError("zeros + nonfinite must be between 0 and count (%d) for every unit" % count)
    int_dtype = count_dtype(count)
    if np.any(nonfinite):
        nonfinite_stored = nonfinite.astype(int_dtype)
    else:
        nonfinite_stored = np.zeros((), np.int32)
    parts = (
        np.asarray(count, np.int64),
        zeros.astype(int_dtype),
        np.asarray(abs_sum, np.float32),
        nonfinite_stored,
    )
    return np.array(
        [tensor_util.make_tensor_proto(p).SerializeToString() for p in parts],
        dtype=object,
    )


# numpy types of the TensorProto dtypes that record fields are stored in, for
# reading ``tensor_content`` directly: ``tensor_util.make_ndarray`` costs ~50 µs
# per field, most of the time of reading a large logdir's records.
_CONTENT_DTYPES = {
    types_pb2.DT_INT8: np.int8,
    types_pb2.DT_INT16: np.int16,
    types_pb2.DT_INT32: np.int32,
    types_pb2.DT_INT64: np.int64,
    types_pb2.DT_UINT8: np.uint8,
    types_pb2.DT_UINT16: np.uint16,
    types_pb2.DT_UINT32: np.uint32,
    types_pb2.DT_UINT64: np.uint64,
    types_pb2.DT_FLOAT: np.float32,
    types_pb2.DT_DOUBLE: np.float64,
}


# The repeated field holding a scalar's value when it has no packed content.
_SCALAR_FIELDS = {
    np.int8: "int_val", np.int16: "int_val", np.int32: "int_val", np.uint8: "int_val", np.uint16: "int_val",
    np.int64: "int64_val", np.uint32: "uint32_val", np.uint64: "uint64_val",
    np.float32: "float_val", np.float64: "double_val",
}


def _field_array(raw):
    """One serialized ``TensorProto`` field of a record as a numpy array."""
    proto = tensor_pb2.TensorProto.FromString(raw)
    dtype = _CONTENT_DTYPES.get(proto.dtype)
    dims = proto.tensor_shape.dim
    if dtype is not None and len(dims) <= 1:
        # What make_ndarray does for the two layouts records use: packed content
        # (host byte order, as TF writes it) and a scalar in its typed field.
        if proto.tensor_content:
            array = np.frombuffer(proto.tensor_content, dtype=dtype)
            if (array.shape[0] == dims[0].size) if dims else array.shape == (1,):
                return array if dims else array.reshape(())
        elif not dims:
            values = getattr(proto, _SCALAR_FIELDS[dtype])
            if len(values) == 1:
                return np.array(values[0], dtype=dtype)
    return tensor_util.make_ndarray(proto)


def decode_fields(value):
    """Decodes a record tensor (as a numpy array) into its four sums as stored.

    Returns:
      ``(count, zeros, abs_sum, nonfinite)``: an int, then the per-unit arrays
      in the dtypes they were written with (read-only views; ``nonfinite``
      may be a scalar 0). :func:`decode_record` widens them.

    Raises:
      RecordError: the tensor does not have the layout of this version.
    """
    value = np.asarray(value)
    if value.dtype != object or value.shape != (len(STAT_NAMES),):
        raise RecordError(
            "record tensor must be %d strings, got dtype %s shape %s"
            % (len(STAT_NAMES), value.dtype, value.shape)
        )
    parts = {}
    for name, raw in zip(STAT_NAMES, value):
        try:
            parts[name] = _field_array(raw)
        except Exception as e:  # protobuf raises DecodeError, numpy ValueError
            raise RecordError("record field %r does not parse: %s" % (name, e)) from None
    count, zeros, abs_sum, nonfinite = (parts[n] for n in STAT_NAMES)
    if count.shape != () or count.dtype.kind not in "iu":
        raise RecordError("record count must be an integer scalar, got %s %s" % (count.dtype, count.shape))
    if zeros.ndim != 1 or zeros.dtype.kind not in "iu":
        raise RecordError("record zeros must be integers of shape [units], got %s %s" % (zeros.dtype, zeros.shape))
    units = zeros.shape[0]
    if abs_sum.shape != (units,) or abs_sum.dtype.kind != "f":
        raise RecordError("record abs_sum must be floats of shape [%d], got %s %s" % (units, abs_sum.dtype, abs_sum.shape))
    if nonfinite.shape not in ((), (units,)) or nonfinite.dtype.kind not in "iu":
        raise RecordError("record nonfinite must be integers of shape [] or [%d], got %s %s" % (units, nonfinite.dtype, nonfinite.shape))
    count = int(count)
    consistent = count >= 0 and (units == 0 or (int(zeros.min()) >= 0 and int(zeros.max()) <= count))
    if consistent and (nonfinite.ndim or nonfinite != 0):
        # int64 first: two int32 counts near the int32 limit must not wrap around.
        consistent = int(nonfinite.min()) >= 0 and not np.any(zeros.astype(np.int64) + nonfinite.astype(np.int64) > count)
    if not consistent:
        raise RecordError("record counts are inconsistent: negative, or zeros + nonfinite exceed count %d" % count)
    return count, zeros, abs_sum, nonfinite


def decode_record(value):
    """Decodes a record tensor (as a numpy array) into a :class:`Record`.

    Raises:
      RecordError: the tensor does not have the layout of this version.
    """
    count, zeros, abs_sum, nonfinite = decode_fields(value)
    units = zeros.shape[0]
    return Record(
        count=count,
        zeros=zeros.astype(np.int64),
        abs_sum=abs_sum.astype(np.float64),
        nonfinite=np.broadcast_to(nonfinite, (units,)).astype(np.int64),
    )


def check_tag(name, argument="name"):
    """Raises ValueError naming ``argument`` unless ``name`` can tag a series (a non-empty string)."""
    if not isinstance(name, str) or not name:
        raise ValueError("%s must be a non-empty string, got %r" % (argument, name))


def summary_pb(name, count, zeros, abs_sum, nonfinite, description=None, order=None, kind=KIND_ACTIVATIONS):
    """Builds a record ``Summary`` from sums that were already reduced.

    ``order`` is the layer's position in its model and ``kind`` what the sums
    describe, one of :data:`KNOWN_KINDS` (see
    :func:`create_summary_metadata`).
    """
    check_tag(name)
    tensor = tensor_util.make_tensor_proto(
        encode_record(count, zeros, abs_sum, nonfinite)
    )
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=name,
        metadata=create_summary_metadata(description, kind=kind, order=order, units=np.shape(zeros)[0]),
        tensor=tensor,
    )
    return summary
