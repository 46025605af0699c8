"""The record format: encode/decode round trips, on-disk dtypes, and the errors
that name what is wrong."""

import json

import numpy as np
import pytest

from tensorboard.compat.proto import summary_pb2, tensor_pb2
from tensorboard.util import tensor_util

from tensorboard_plugin_deadrelu.core import metadata


def stored_parts(record_tensor):
    """The four nested TensorProtos of an encoded record, by stat name."""
    return {
        name: tensor_pb2.TensorProto.FromString(raw)
        for name, raw in zip(metadata.STAT_NAMES, record_tensor)
    }


def test_round_trip_keeps_every_value_and_uses_compact_dtypes():
    encoded = metadata.encode_record(7, [7, 0, 3], [0.0, 12.5, 3.25], [0, 2, 1])

    record = metadata.decode_record(encoded)

    assert record.count == 7
    np.testing.assert_array_equal(record.zeros, [7, 0, 3])
    np.testing.assert_array_equal(record.abs_sum, [0.0, 12.5, 3.25])
    np.testing.assert_array_equal(record.nonfinite, [0, 2, 1])
    assert record.units == 3
    np.testing.assert_array_equal(record.dead, [True, False, False])
    parts = stored_parts(encoded)
    assert tensor_util.make_ndarray(parts["zeros"]).dtype == np.int32
    assert tensor_util.make_ndarray(parts["abs_sum"]).dtype == np.float32
    assert tensor_util.make_ndarray(parts["nonfinite"]).dtype == np.int32


def test_nonfinite_is_stored_as_a_scalar_when_no_unit_saw_one():
    encoded = metadata.encode_record(4, [1, 4], [3.0, 0.0], [0, 0])

    assert tensor_util.make_ndarray(stored_parts(encoded)["nonfinite"]).shape == ()
    np.testing.assert_array_equal(metadata.decode_record(encoded).nonfinite, [0, 0])


def test_counts_past_int32_are_stored_as_int64():
    count = 2**33
    encoded = metadata.encode_record(count, [count, 5], [1.5, 2.0], [0, 2**32 + 1])

    record = metadata.decode_record(encoded)

    assert record.count == 2**33
    np.testing.assert_array_equal(record.zeros, [2**33, 5])
    np.testing.assert_array_equal(record.nonfinite, [0, 2**32 + 1])
    np.testing.assert_array_equal(record.dead, [True, False])
    parts = stored_parts(encoded)
    assert tensor_util.make_ndarray(parts["zeros"]).dtype == np.int64
    assert tensor_util.make_ndarray(parts["nonfinite"]).dtype == np.int64


def test_count_zero_marks_no_unit_dead():
    record = metadata.decode_record(metadata.encode_record(0, [0, 0], [0.0, 0.0], [0, 0]))

    assert record.count == 0
    np.testing.assert_array_equal(record.dead, [False, False])


@pytest.mark.parametrize(
    "args, argument",
    [
        ((3, [[1, 2]], [1.0, 2.0], [0, 0]), "zeros"),
        ((3, [1, 2], [1.0, 2.0, 3.0], [0, 0]), "abs_sum"),
        ((3, [1, 2], [1.0, 2.0], [0, 0, 0]), "nonfinite"),
        ((-1, [0, 0], [1.0, 2.0], [0, 0]), "count"),
        ((3, [4, 0], [1.0, 2.0], [0, 0]), "zeros + nonfinite"),
        ((3, [2, 0], [1.0, 2.0], [2, 0]), "zeros + nonfinite"),
    ],
)
def test_encode_rejects_inconsistent_sums_naming_the_argument(args, argument):
    with pytest.raises(ValueError, match=argument.replace("+", r"\+")):
        metadata.encode_record(*args)


def raw_record(count, zeros, abs_sum, nonfinite):
    """A record tensor built part by part, bypassing encode_record's checks."""
    return np.array(
        [tensor_util.make_tensor_proto(np.asarray(p)).SerializeToString() for p in (count, zeros, abs_sum, nonfinite)],
        dtype=object,
    )


def test_decode_rejects_counts_that_only_fit_when_int32_wraps_around():
    limit = np.int32(metadata.INT32_LIMIT)
    value = raw_record(np.int64(metadata.INT32_LIMIT), np.array([limit], np.int32), np.array([0.0], np.float32), np.array([limit], np.int32))

    with pytest.raises(metadata.RecordError, match="inconsistent"):
        metadata.decode_record(value)


@pytest.mark.parametrize(
    "value, message",
    [
        (raw_record(np.int64(3), np.array([1, 2]), np.array([1.0, 2.0], np.float32), np.array([0, -1])), "inconsistent"),
        (raw_record(np.int64(3), np.array([1, 4]), np.array([1.0, 2.0], np.float32), np.int32(0)), "inconsistent"),
        (np.array([b"a", b"b"], dtype=object), "4 strings"),
        (np.array([b"\xff\xff", b"", b"", b""], dtype=object), "'count' does not parse"),
        (raw_record(np.array([1, 2]), np.array([1]), np.array([1.0], np.float32), np.int32(0)), "count must be an integer scalar"),
        (raw_record(np.int64(3), np.array([1.0]), np.array([1.0], np.float32), np.int32(0)), "zeros must be integers"),
        (raw_record(np.int64(3), np.array([1, 2]), np.array([1.0], np.float32), np.int32(0)), r"abs_sum must be floats of shape \[2\]"),
        (raw_record(np.int64(3), np.array([1, 2]), np.array([1.0, 2.0], np.float32), np.array([0, 0, 0])), "nonfinite must be integers"),
    ],
)
def test_decode_rejects_malformed_records_saying_why(value, message):
    with pytest.raises(metadata.RecordError, match=message):
        metadata.decode_record(value)


def test_summary_metadata_is_a_tensor_summary_of_this_plugin_with_its_header():
    md = metadata.create_summary_metadata("**dense**", order=2)

    assert md.data_class == summary_pb2.DATA_CLASS_TENSOR
    assert md.plugin_data.plugin_name == "deadrelu"
    assert md.summary_description == "**dense**"
    assert json.loads(md.plugin_data.content) == {"version": 1, "kind": "activations", "order": 2}
    content = metadata.parse_plugin_content(md.plugin_data.content)
    assert content == metadata.PluginContent(version=1, kind="activations", order=2)
    assert metadata.parse_plugin_content(metadata.create_summary_metadata().plugin_data.content).order is None


def test_unknown_kind_is_rejected_naming_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        metadata.create_summary_metadata(kind="weights")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not json", "not a Dead ReLU header"),
        (b'{"kind": "activations"}', "not a Dead ReLU header"),
        (b'{"version": 2}', "record version 2 is not supported"),
    ],
)
def test_parse_plugin_content_rejects_foreign_or_newer_headers(content, message):
    with pytest.raises(metadata.RecordError, match=message):
        metadata.parse_plugin_content(content)


def test_units_in_plugin_content_and_old_content_without_it_still_parses():
    meta = metadata.create_summary_metadata(order=3, units=2048)
    content = metadata.parse_plugin_content(meta.plugin_data.content)
    assert content.units == 2048 and content.order == 3 and content.version == metadata.RECORD_VERSION == 1
    # What 0.1.0 wrote: no "units" key.
    old = metadata.parse_plugin_content(b'{"kind": "activations", "order": 1, "version": 1}')
    assert old.units is None and old.order == 1
    with pytest.raises(ValueError, match="units must be an int >= 0"):
        metadata.create_summary_metadata(units=-1)


def test_record_dead_is_exact_beyond_2_to_the_32():
    count = 16_000_000_000
    record = metadata.decode_record(metadata.encode_record(count, np.array([count, count - 1, 0]), np.zeros(3), np.zeros(3)))
    assert record.dead.tolist() == [True, False, False]


@pytest.mark.parametrize(
    "part",
    [
        np.asarray(7, np.int64),
        np.asarray(3_000_000_000, np.int64),
        np.asarray(0, np.int32),
        np.array([0, 5, 2**31 - 1], np.int32),
        np.array([0, 2**40], np.int64),
        np.array([0.5, -0.0, 3e38], np.float32),
        np.array([], np.int32),
        np.array([1, 2], np.uint16),
    ],
    ids=repr,
)
def test_record_fields_decode_as_tensorboards_make_ndarray_does(part):
    """The fast path that reads packed content and scalar fields directly gives
    make_ndarray's values and dtype, for every layout a record field comes in."""
    protos = [tensor_util.make_tensor_proto(part)]
    if part.ndim == 0:
        # How TensorFlow's own writer lays out a scalar: packed content, not a typed field.
        packed = tensor_pb2.TensorProto(dtype=protos[0].dtype, tensor_content=part.tobytes())
        protos.append(packed)
    for proto in protos:
        expected = tensor_util.make_ndarray(proto)
        got = metadata._field_array(proto.SerializeToString())
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
