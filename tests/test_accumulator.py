"""summary.Accumulator: exact sums over many batches, written once, read back
from real event files and checked against numpy over the concatenated data."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

# The TensorFlow half of the package; the TF-free parts are tested without it.
tf = pytest.importorskip("tensorflow")

from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.writing import summary
from tests.eventfiles import read_events, read_records

HERE = os.path.dirname(os.path.abspath(__file__))


def ground_truth(data, channels_first=False):
    """Per-unit sums by walking every value; abs_sum exact (math.fsum) in float64."""
    data = np.asarray(data)
    if channels_first:
        data = np.moveaxis(data, 1, -1)
    columns = data.reshape(-1, data.shape[-1]).T
    rows = [[v.item() for v in column] for column in columns]
    return {
        "count": columns.shape[1],
        "zeros": np.array([sum(v == 0 for v in r) for r in rows], np.int64),
        "abs_sum": np.array([math.fsum(abs(v) for v in r if math.isfinite(v)) for r in rows]),
        "nonfinite": np.array([sum(not math.isfinite(v) for v in r) for r in rows], np.int64),
    }


def assert_sums_equal(actual, expected, largest_batch):
    """Counts exactly. abs_sum within the documented tolerance: float32 activations
    are summed in float32 within a batch (relative error <= n * 2**-24 for n values
    per unit and batch), then in float64 across batches, then stored as float32."""
    assert actual["count"] == expected["count"]
    np.testing.assert_array_equal(actual["zeros"], expected["zeros"])
    np.testing.assert_array_equal(actual["nonfinite"], expected["nonfinite"])
    np.testing.assert_allclose(actual["abs_sum"], expected["abs_sum"], rtol=(largest_batch + 2) * 2.0**-24, atol=0)


def record_sums(record):
    return {"count": record.count, "zeros": record.zeros, "abs_sum": record.abs_sum, "nonfinite": record.nonfinite}


def relu_batches(rng, sizes, units):
    batches = []
    for size in sizes:
        batch = np.maximum(rng.normal(size=(size, units)), 0).astype(np.float32)
        batch[:, 0] = 0.0  # dead unit
        if size:
            batch[0, 1] = -0.0
            batch[-1, 2] = np.nan
        batches.append(batch)
    return batches


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_eager_sums_over_batches_with_a_partial_last_batch_equal_numpy_over_the_concatenation(tmp_path, rng):
    dense = relu_batches(rng, [32, 32, 17], units=5)
    conv = [np.maximum(rng.normal(size=(n, 3, 3, 4)), 0).astype(np.float32) for n in (32, 32, 17)]
    accumulator = summary.Accumulator(description="per epoch")
    for d, c in zip(dense, conv):
        accumulator.update("dense", d)
        accumulator.update("conv", c)

    assert accumulator.names == ["dense", "conv"]
    assert_sums_equal(accumulator.result()["dense"], ground_truth(np.concatenate(dense)), largest_batch=32)
    assert_sums_equal(accumulator.result()["conv"], ground_truth(np.concatenate(conv)), largest_batch=32 * 9)
    writer = tf.summary.create_file_writer(str(tmp_path / "run"))
    with writer.as_default():
        assert bool(accumulator.write(step=5)) is True
    writer.close()

    records = read_records(str(tmp_path))
    [(step, record)] = records[("run", "dense")]
    assert step == 5
    assert_sums_equal(record_sums(record), ground_truth(np.concatenate(dense)), largest_batch=32)
    assert record.count == 81
    assert record.nonfinite[2] == 3
    np.testing.assert_array_equal(record.dead, [True, False, False, False, False])
    assert_sums_equal(record_sums(records[("run", "conv")][0][1]), ground_truth(np.concatenate(conv)), largest_batch=32 * 9)
    orders = {
        value.tag: metadata.parse_plugin_content(value.metadata.plugin_data.content).order
        for _, event in read_events(str(tmp_path))
        for value in event.summary.value
    }
    assert orders == {"dense": 0, "conv": 1}
    descriptions = {v.metadata.summary_description for _, e in read_events(str(tmp_path)) for v in e.summary.value}
    assert descriptions == {"per epoch"}


def test_write_resets_so_each_record_covers_only_its_epoch(tmp_path, rng):
    epochs = [relu_batches(rng, [16, 16], 3), relu_batches(rng, [16, 5], 3)]
    accumulator = summary.Accumulator()
    writer = tf.summary.create_file_writer(str(tmp_path / "run"))
    with writer.as_default():
        for epoch, batches in enumerate(epochs):
            for batch in batches:
                accumulator.update("layer", batch)
            accumulator.write(step=epoch)
            assert accumulator.result()["layer"]["count"] == 0
            np.testing.assert_array_equal(accumulator.result()["layer"]["zeros"], [0, 0, 0])
    writer.close()

    points = read_records(str(tmp_path))[("run", "layer")]

    assert [step for step, _ in points] == [0, 1]
    for (_, record), batches in zip(points, epochs):
        assert_sums_equal(record_sums(record), ground_truth(np.concatenate(batches)), largest_batch=16)


def test_inside_tf_function_with_variables_created_on_first_trace(tmp_path, rng):
    batches = relu_batches(rng, [32, 32, 32, 9], units=6)
    accumulator = summary.Accumulator()

    @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32)])
    def train_step(x):
        hidden = tf.nn.relu(x)
        accumulator.update("relu", hidden)
        accumulator.update("relu_nchw", tf.reshape(hidden, [-1, 3, 2]), channels_first=True)

    @tf.function
    def write_epoch(step):
        return accumulator.write(step=step)

    for batch in batches:
        train_step(tf.constant(batch))
    writer = tf.summary.create_file_writer(str(tmp_path / "run"))
    with writer.as_default():
        assert bool(write_epoch(tf.constant(1, tf.int64))) is True
    writer.close()

    records = read_records(str(tmp_path))
    everything = np.maximum(np.concatenate(batches), 0)
    assert_sums_equal(record_sums(records[("run", "relu")][0][1]), ground_truth(everything), largest_batch=32)
    nchw = everything.reshape(-1, 3, 2)
    assert_sums_equal(record_sums(records[("run", "relu_nchw")][0][1]), ground_truth(nchw, channels_first=True), largest_batch=32 * 2)
    assert records[("run", "relu_nchw")][0][1].units == 3
    assert accumulator.result()["relu"]["count"] == 0


def test_units_declared_up_front_create_variables_in_order(rng):
    accumulator = summary.Accumulator(units={"b": 2, "a": 3})

    assert accumulator.names == ["b", "a"]
    assert accumulator.result()["a"]["zeros"].shape == (3,)
    assert [v.dtype for v in accumulator.variables[:4]] == [tf.int64, tf.int64, tf.float64, tf.int64]
    accumulator.update("a", np.zeros((4, 3), np.float32))
    assert accumulator.result()["a"]["count"] == 4
    np.testing.assert_array_equal(accumulator.result()["a"]["zeros"], [4, 4, 4])


def test_write_without_writer_or_layers_returns_false_and_still_resets(rng):
    assert bool(summary.Accumulator().write(step=0)) is False
    accumulator = summary.Accumulator()
    accumulator.update("layer", np.ones((3, 2), np.float32))

    assert bool(accumulator.write(step=0)) is False
    assert accumulator.result()["layer"]["count"] == 0


def test_empty_batch_adds_nothing(rng):
    accumulator = summary.Accumulator()
    accumulator.update("layer", np.zeros((0, 4), np.float32))
    accumulator.update("layer", np.zeros((2, 4), np.float32))

    assert accumulator.result()["layer"]["count"] == 2
    np.testing.assert_array_equal(accumulator.result()["layer"]["zeros"], [2, 2, 2, 2])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda a: a.update("", np.ones((2, 2))), "name must be a non-empty string"),
        (lambda a: a.update(None, np.ones((2, 2))), "name must be a non-empty string"),
        (lambda a: a.update("x", np.ones(3)), "data must have a batch axis and a units axis"),
        (lambda a: a.update("x", "text"), "data must be a real numeric"),
        (lambda a: a.update("known", np.ones((2, 5))), r"data has 5 units .* but layer 'known' has 4 units"),
        (lambda a: a.update("known", np.ones((2, 3, 4)), channels_first=True), r"data has 3 units .* but layer 'known' has 4 units"),
    ],
)
def test_errors_name_the_argument(call, message):
    accumulator = summary.Accumulator(units={"known": 4})

    with pytest.raises(ValueError, match=message):
        call(accumulator)


def test_units_axis_of_unknown_size_cannot_create_a_layer():
    accumulator = summary.Accumulator()

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def update(x):
        accumulator.update("dynamic", x)

    with pytest.raises(ValueError, match=r"data must have a units axis of known size .*units=\{'dynamic'"):
        update(tf.ones([2, 3]))


@pytest.mark.parametrize(
    "units, message",
    [
        ([("a", 3)], "units must be a mapping"),
        ({"a": 0}, r"units\['a'\] must be a positive int"),
        ({"a": 2.5}, r"units\['a'\] must be a positive int"),
        ({"": 3}, "units keys must be a non-empty string"),
    ],
)
def test_bad_units_raise_naming_units(units, message):
    with pytest.raises(ValueError, match=message):
        summary.Accumulator(units=units)


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpus_counts_the_global_batch(tmp_path, rng):
    data = rng.normal(size=(49, 6)).astype(np.float32)
    data[:, 2] = -1.0  # relu -> 0 everywhere: dead
    data[4, 3] = np.inf
    np.save(tmp_path / "data.npy", data)
    completed = subprocess.run(
        [sys.executable, os.path.join(HERE, "mirrored_accumulator_script.py"), str(tmp_path / "logs"), str(tmp_path / "data.npy"), "16"],
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])

    assert report["replicas"] == 2
    # Each replica saw half of each global batch; the last (1 row) leaves one replica empty.
    assert report["per_replica_rows"] == [[8, 8], [8, 8], [8, 8], [1, 0]]
    assert report["local_counts"] == [25, 24]
    assert report["result_count"] == 49
    assert report["written"] is True
    assert report["after_write_count"] == 0
    assert "name 'undeclared' is not a layer" in report["unknown_name_error"]
    assert "strategy.scope()" in report["unknown_name_error"]
    expected = ground_truth(np.maximum(data, 0))
    np.testing.assert_array_equal(report["result_zeros"], expected["zeros"])
    [(step, record)] = read_records(str(tmp_path / "logs"))[("run", "hidden")]
    assert step == 1
    assert_sums_equal(record_sums(record), expected, largest_batch=8)
    assert record.nonfinite[3] == 1
    np.testing.assert_array_equal(record.dead, [False, False, True, False, False, False])
