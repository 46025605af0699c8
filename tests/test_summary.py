"""The summary op and its numpy twin, read back from real event files and
checked against a numpy ground truth computed here, value by value."""

import math
import os

import numpy as np
import pytest

# The TensorFlow half of the package; the TF-free parts are tested without it.
tf = pytest.importorskip("tensorflow")

from tensorboard.compat.proto import event_pb2, tensor_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.writing import summary
from tests.eventfiles import read_events, read_records


def ground_truth(data, channels_first=False):
    """The four sums per unit, by walking every value of every unit."""
    data = np.asarray(data)
    if channels_first:
        data = np.moveaxis(data, 1, -1)
    columns = data.reshape(-1, data.shape[-1]).T  # one row per unit
    zeros, abs_sum, nonfinite = [], [], []
    for values in columns:
        values = [v.item() for v in values]
        zeros.append(sum(1 for v in values if v == 0))
        nonfinite.append(sum(1 for v in values if not math.isfinite(v)))
        abs_sum.append(math.fsum(abs(v) for v in values if math.isfinite(v)))
    return {
        "count": columns.shape[1],
        "zeros": np.array(zeros, np.int64),
        # The record stores abs_sum as float32: the exact sum, rounded once.
        "abs_sum": np.array(abs_sum, np.float64).astype(np.float32).astype(np.float64),
        "nonfinite": np.array(nonfinite, np.int64),
    }


def abs_sum_tolerance(values_per_unit):
    """Relative tolerance of abs_sum: the TF op sums float32 activations in
    float32 within a batch (error <= n * 2**-24) and both sides round to
    float32 for the record (2 * 2**-24)."""
    return (values_per_unit + 2) * 2.0**-24


def assert_record_equals(record, expected, exact_abs_sum=False):
    """Counts exactly; abs_sum exactly or within the documented float32 tolerance."""
    assert record.count == expected["count"]
    np.testing.assert_array_equal(record.zeros, expected["zeros"])
    np.testing.assert_array_equal(record.nonfinite, expected["nonfinite"])
    if exact_abs_sum:
        np.testing.assert_array_equal(record.abs_sum, expected["abs_sum"])
    else:
        np.testing.assert_allclose(record.abs_sum, expected["abs_sum"], rtol=abs_sum_tolerance(record.count), atol=0)


def relu_like(rng, shape, dtype=np.float32):
    """Activations with many exact zeros, like a ReLU layer's output."""
    return np.maximum(rng.normal(size=shape), 0).astype(dtype)


def dense_with_special_values(rng):
    data = relu_like(rng, (64, 6))
    data[:, 0] = 0.0  # a dead unit
    data[::2, 1] = -0.0  # -0.0 and 0.0 mixed: still dead
    data[1::2, 1] = 0.0
    data[3, 2] = np.nan  # NaN never counts as zero ...
    data[:, 3] = 0.0
    data[5, 3] = np.inf  # ... nor does Inf, so unit 3 is not dead
    data[7, 4] = -np.inf
    data[8, 4] = np.nan
    data[9, 5] = -0.0
    return data


def write_and_read(tmp_path, write):
    """Runs ``write()`` under a file writer for run ``run``; returns its records by tag."""
    writer = tf.summary.create_file_writer(str(tmp_path / "run"))
    with writer.as_default():
        result = write()
    writer.close()
    records = {tag: points for (run, tag), points in read_records(str(tmp_path)).items()}
    return result, records


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_dense_record_counts_zeros_negative_zero_nan_and_inf(tmp_path, rng):
    data = dense_with_special_values(rng)
    expected = ground_truth(data)

    written, records = write_and_read(tmp_path, lambda: summary.activations("dense", data, step=3))

    assert bool(written) is True
    [(step, record)] = records["dense"]
    assert step == 3
    assert_record_equals(record, expected)
    # independent of the helper: the hand-placed specials
    np.testing.assert_array_equal(record.nonfinite, [0, 0, 1, 1, 2, 0])
    np.testing.assert_array_equal(record.dead, [True, True, False, False, False, False])
    assert record.zeros[1] == 64


def test_conv_nhwc_unit_is_the_channel(tmp_path, rng):
    data = relu_like(rng, (4, 5, 5, 3))
    data[..., 2] = 0.0

    _, records = write_and_read(tmp_path, lambda: summary.activations("conv", data, step=0))

    [(_, record)] = records["conv"]
    assert record.count == 4 * 5 * 5
    assert_record_equals(record, ground_truth(data))
    np.testing.assert_array_equal(record.dead, [False, False, True])


def test_channels_first_nchw_equals_the_transposed_nhwc(tmp_path, rng):
    nhwc = relu_like(rng, (3, 4, 6, 5))
    nhwc[..., 1] = 0.0
    nchw = np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))

    def write():
        summary.activations("nhwc", nhwc, step=0)
        summary.activations("nchw", nchw, step=0, channels_first=True)

    _, records = write_and_read(tmp_path, write)

    assert_record_equals(records["nchw"][0][1], ground_truth(nhwc))
    assert_record_equals(records["nchw"][0][1], ground_truth(nchw, channels_first=True))
    assert records["nchw"][0][1].units == 5
    np.testing.assert_array_equal(records["nchw"][0][1].dead, [False, True, False, False, False])


@pytest.mark.parametrize("dtype", [np.int32, np.int8, np.uint8, np.int64, np.float16, np.float64])
def test_integer_and_other_float_dtypes(tmp_path, rng, dtype):
    if np.dtype(dtype).kind == "f":
        data = rng.normal(size=(40, 4)).astype(dtype)
        data[data < 0] = 0
    else:
        info = np.iinfo(dtype)
        data = rng.integers(max(info.min, -1000), min(info.max, 1000), size=(40, 4), endpoint=True).astype(dtype)
        extreme = info.min if info.min < 0 else info.max  # |int8 min| = 128 must not wrap around
        data[:, 0] = extreme
        data[::3, 2] = 0
        data[:, 3] = 0

    _, records = write_and_read(tmp_path, lambda: summary.activations("layer", data, step=1))

    [(_, record)] = records["layer"]
    # integers and float64 are summed in float64: exact after float32 rounding
    assert_record_equals(record, ground_truth(data), exact_abs_sum=np.dtype(dtype) != np.float16)
    if np.dtype(dtype).kind != "f":
        np.testing.assert_array_equal(record.dead, [False, False, False, True])
        assert record.abs_sum[0] == 40 * abs(int(extreme))


def test_empty_batch_writes_count_zero(tmp_path):
    data = np.zeros((0, 5), np.float32)

    written, records = write_and_read(tmp_path, lambda: summary.activations("empty", data, step=0))

    assert bool(written) is True
    [(_, record)] = records["empty"]
    assert record.count == 0
    np.testing.assert_array_equal(record.zeros, np.zeros(5))
    np.testing.assert_array_equal(record.abs_sum, np.zeros(5))
    assert not record.dead.any()
    # and the numpy twin agrees
    assert summary.reduce_activations_np(data)["count"] == 0


def write_numpy_twin(run_dir, points):
    writer = EventFileWriter(str(run_dir))
    for step, tag, data, channels_first in points:
        event = event_pb2.Event(step=step, wall_time=1_600_000_000.0 + step)
        event.summary.CopyFrom(summary.activations_pb(tag, data, channels_first=channels_first))
        writer.add_event(event)
    writer.close()


def test_tf_op_and_numpy_twin_write_identical_records(tmp_path, rng):
    points = [
        (0, "dense", dense_with_special_values(rng), False),
        (1, "dense", relu_like(rng, (256, 200)), False),
        (0, "conv", relu_like(rng, (8, 7, 7, 16)), False),
        (0, "nchw", relu_like(rng, (8, 16, 7, 7)), True),
        (0, "ints", rng.integers(-5, 5, size=(30, 3)).astype(np.int32), False),
        (0, "empty", np.zeros((0, 3), np.float32), False),
    ]
    writer = tf.summary.create_file_writer(str(tmp_path / "tf"))
    with writer.as_default():
        for step, tag, data, channels_first in points:
            summary.activations(tag, data, step=step, channels_first=channels_first)
    writer.close()
    write_numpy_twin(tmp_path / "numpy", points)

    records = read_records(str(tmp_path))

    for step, tag, data, channels_first in points:
        tf_points = dict(records[("tf", tag)])
        np_points = dict(records[("numpy", tag)])
        assert_record_equals(tf_points[step], vars(np_points[step]))
        # the numpy twin sums in float64: exact after float32 rounding
        assert_record_equals(np_points[step], ground_truth(data, channels_first), exact_abs_sum=True)


def test_eager_and_tf_function_write_the_same_records(tmp_path, rng):
    batches = [relu_like(rng, (32, 8)), relu_like(rng, (32, 8)), relu_like(rng, (7, 8))]

    @tf.function(input_signature=[tf.TensorSpec([None, 8], tf.float32), tf.TensorSpec([], tf.int64)])
    def record_in_graph(data, step):
        return summary.activations("graph", data, step=step)

    def write():
        for step, data in enumerate(batches):
            assert bool(summary.activations("eager", data, step=step))
            assert bool(record_in_graph(tf.constant(data), tf.constant(step, tf.int64)))

    _, records = write_and_read(tmp_path, write)

    for tag in ("eager", "graph"):
        assert [step for step, _ in records[tag]] == [0, 1, 2]
        for (_, record), data in zip(records[tag], batches):
            assert_record_equals(record, ground_truth(data))


def test_default_step_and_name_scope_and_description(tmp_path, rng):
    data = relu_like(rng, (4, 2))

    def write():
        tf.summary.experimental.set_step(42)
        try:
            with tf.name_scope("block1"):
                summary.activations("relu", data, description="first *block*")
        finally:
            tf.summary.experimental.set_step(None)

    _, records = write_and_read(tmp_path, write)

    [(step, record)] = records["block1/relu"]
    assert step == 42
    assert_record_equals(record, ground_truth(data))
    [value] = [v for _, e in read_events(str(tmp_path)) for v in e.summary.value]
    assert value.metadata.summary_description == "first *block*"
    assert metadata.parse_plugin_content(value.metadata.plugin_data.content).kind == "activations"


def test_record_if_false_writes_nothing(tmp_path, rng):
    data = relu_like(rng, (4, 3))

    def write():
        with tf.summary.record_if(False):
            return summary.activations("off", data, step=0)

    written, records = write_and_read(tmp_path, write)

    assert bool(written) is False
    assert records == {}
    assert os.listdir(tmp_path / "run")  # the writer did create its file


def test_returns_false_without_a_default_writer(rng):
    assert bool(summary.activations("nowhere", relu_like(rng, (4, 3)), step=0)) is False


@pytest.mark.parametrize(
    "data, message",
    [
        (np.ones(5, np.float32), "batch axis and a units axis"),
        (np.float32(3.0), "batch axis and a units axis"),
        (np.array([["a", "b"]]), "numeric"),
        (np.ones((2, 2), bool), "numeric"),
        (np.ones((2, 2), np.complex64), "numeric"),
        (np.ones((2, 0), np.float32), "no units"),
        (None, "data"),
    ],
)
def test_bad_data_raises_naming_data(data, message):
    for write in (
        lambda: summary.activations("layer", data, step=0),
        lambda: summary.activations_pb("layer", data),
        lambda: summary.reduce_activations(data),
    ):
        with pytest.raises(ValueError, match="data") as error:
            write()
        assert message in str(error.value)


@pytest.mark.parametrize("name", ["", None, 3])
def test_bad_name_raises_naming_name(name):
    data = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        summary.activations(name, data, step=0)
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        summary.activations_pb(name, data)


def test_tf_encoder_stores_counts_past_int32_as_int64():
    count = 2**33
    encoded = summary.encode_stats(
        tf.constant(count, tf.int64),
        tf.constant([count, 3], tf.int64),
        tf.constant([1.5, 2.0], tf.float64),
        tf.constant([0, 2**32 + 7], tf.int64),
    ).numpy()

    record = metadata.decode_record(encoded)

    assert record.count == count
    np.testing.assert_array_equal(record.zeros, [count, 3])
    np.testing.assert_array_equal(record.nonfinite, [0, 2**32 + 7])
    np.testing.assert_array_equal(record.abs_sum, [1.5, 2.0])
    zeros_proto = tensor_pb2.TensorProto.FromString(encoded[1])
    assert tensor_util.make_ndarray(zeros_proto).dtype == np.int64
    small = summary.encode_stats(5, [5, 1], [0.0, 1.0], [0, 0]).numpy()
    assert tensor_util.make_ndarray(tensor_pb2.TensorProto.FromString(small[1])).dtype == np.int32
    assert tensor_util.make_ndarray(tensor_pb2.TensorProto.FromString(small[3])).shape == ()


def test_recording_inside_a_gradient_tape_adds_no_gradient(tmp_path, rng):
    x = tf.constant(relu_like(rng, (8, 3)) - 0.5)
    accumulator = summary.Accumulator()
    writer = tf.summary.create_file_writer(str(tmp_path / "run"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        sums = summary.reduce_activations(x)
        accumulator.update("layer", x)
        with writer.as_default(step=0):
            summary.activations("layer", x)
        loss = tf.reduce_sum(x * 2.0)
    # The sums are not differentiable functions of the data ...
    assert tape.gradient(sums["abs_sum"], x) is None
    # ... and the model's own gradient is untouched.
    np.testing.assert_array_equal(tape.gradient(loss, x).numpy(), np.full((8, 3), 2.0, np.float32))
    writer.close()
