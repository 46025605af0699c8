"""DeadReluMonitor on real Keras models: every recorded number is checked against
numpy computed in the test from the model's own weights, read back from the event
files through TensorBoard's reader."""

import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from tensorboard.util import tensor_util

# Keras on its default backend, TensorFlow (tests/test_keras_backends.py covers JAX and PyTorch).
pytest.importorskip("tensorflow")
import keras  # noqa: E402

from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.keras import monitor as monitor_module
from tensorboard_plugin_deadrelu.writing import monitor as record_loop
from tensorboard_plugin_deadrelu.keras import DeadReluMonitor, find_relu_layers
from tests.eventfiles import plugin_contents, read_events, read_records
from tests.oracle import assert_record


# --------------------------------------------------------------------------
# Ground truth and helpers


def dense(x, layer, activation):
    kernel, bias = (np.asarray(w, np.float32) for w in layer.get_weights())
    return activation(x @ kernel + bias)


def relu(z):
    return np.maximum(z, 0)


def relu6(z):
    return np.clip(z, 0, 6)


def conv2x2_valid(x, layer):
    kernel, bias = (np.asarray(w, np.float32) for w in layer.get_weights())
    windows = np.lib.stride_tricks.sliding_window_view(x, (2, 2), axis=(1, 2))
    return np.einsum("nhwcij,ijcf->nhwf", windows, kernel) + bias


# The monitor writes into <log_dir>/train, where keras.callbacks.TensorBoard writes training scalars.
RUN = "train"


def layer_records(logdir):
    """{tag: [(step, Record)]} of the activation series the monitor wrote for log_dir."""
    return {
        tag: series
        for (run, tag), series in read_records(str(logdir)).items()
        if run == RUN and not tag.endswith(metadata.GRADIENTS_TAG_SUFFIX)
    }


def scalar_values(logdir):
    """{tag: [(step, value)]} of scalar summaries in the monitor's run of logdir."""
    scalars = {}
    for run, event in read_events(str(logdir)):
        for value in event.summary.value:
            if run == RUN and value.metadata.plugin_data.plugin_name == "scalars":
                scalars.setdefault(value.tag, []).append(
                    (event.step, float(tensor_util.make_ndarray(value.tensor)))
                )
    return scalars


def record_orders(logdir):
    return {tag: content.order for tag, content in plugin_contents(str(logdir)).items()}


def frozen(model):
    """Compiles ``model`` with learning rate 0, so weights stay at their initial values."""
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    return model


def mlp(name="mlp"):
    """Dense(relu) -> Dense(linear) -> ReLU -> Dense: two ReLU-family layers."""
    return keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(6, activation="relu", name="hidden"),
            keras.layers.Dense(4, name="linear"),
            keras.layers.ReLU(name="relu"),
            keras.layers.Dense(1, name="out"),
        ],
        name=name,
    )


def mlp_activations(model, x):
    hidden = dense(x, model.get_layer("hidden"), relu)
    return {"hidden": hidden, "relu": relu(dense(hidden, model.get_layer("linear"), lambda z: z))}


@pytest.fixture(autouse=True)
def seeded():
    keras.utils.set_random_seed(1234)


def data(rows, features=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    y = rng.normal(size=(rows, 1)).astype(np.float32)
    return x, y


# --------------------------------------------------------------------------
# Counting during training


def test_training_counts_equal_numpy_over_the_whole_training_set(tmp_path):
    model = frozen(mlp())
    x, y = data(37)  # batch 8: four full batches and a partial one of 5
    model.fit(
        x, y, batch_size=8, epochs=2, shuffle=True, verbose=0,
        validation_data=data(11, seed=1),  # validation batches must not be counted
        callbacks=[DeadReluMonitor(tmp_path)],
    )
    model.predict(x, verbose=0)
    truth = mlp_activations(model, x)
    records = layer_records(tmp_path)
    assert set(records) == {"hidden", "relu"}
    for tag, series in records.items():
        assert [step for step, _ in series] == [0, 1, 2]  # epochs completed
        assert series[0][1].count == 8  # step 0: the first batch alone
        for _, record in series[1:]:
            assert_record(record, truth[tag])
    # The fixture must exercise both zero and non-zero outputs.
    assert 0 < records["hidden"][1][1].zeros.sum() < 37 * 6


def test_step_zero_reflects_the_initial_weights_while_training(tmp_path):
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="mse")
    x, y = data(24)
    initial = mlp_activations(model, x[:8])
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[DeadReluMonitor(tmp_path)])
    for tag, series in layer_records(tmp_path).items():
        step, record = series[0]
        assert step == 0
        assert_record(record, initial[tag])


def test_functional_conv_and_relu6_counts_with_steps_per_execution(tmp_path):
    inputs = keras.Input((6, 6, 2))
    conv = keras.layers.Conv2D(3, 2, activation="relu", name="conv")(inputs)
    flat = keras.layers.Flatten()(conv)
    hidden = keras.layers.Dense(4, activation="relu6", name="capped")(flat)
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse", steps_per_execution=2)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20, 6, 6, 2)).astype(np.float32)
    y = rng.normal(size=(20, 1)).astype(np.float32)
    model.fit(x, y, batch_size=6, epochs=1, verbose=0, callbacks=[DeadReluMonitor(tmp_path)])
    conv_out = relu(conv2x2_valid(x, model.get_layer("conv")))
    capped = dense(conv_out.reshape(20, -1), model.get_layer("capped"), relu6)
    records = layer_records(tmp_path)
    assert [s for s, _ in records["conv"]] == [0, 1]
    assert_record(records["conv"][-1][1], conv_out)  # count = 20 rows x 5 x 5 positions
    assert records["conv"][-1][1].count == 20 * 25
    assert_record(records["capped"][-1][1], capped)
    assert records["conv"][0][1].count == 12 * 25  # step 0: the first call, two batches of 6


def test_counting_inside_an_xla_compiled_train_step(tmp_path):
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse", jit_compile=True)
    assert model.jit_compile
    x, y = data(20)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[DeadReluMonitor(tmp_path)])
    truth = mlp_activations(model, x)
    for tag, series in layer_records(tmp_path).items():
        assert [s for s, _ in series] == [0, 1]
        assert_record(series[-1][1], truth[tag])


def test_update_freq_writes_every_n_batches_with_exact_sums(tmp_path):
    model = frozen(mlp())
    x, y = data(40)  # 5 batches of 8 per epoch, 10 in all
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
              callbacks=[DeadReluMonitor(tmp_path, update_freq=3)])
    truth = mlp_activations(model, x)
    rows_per_record = {  # batches 1-3, 4-6, 7-9, and the rest flushed when fit() ends
        3: np.arange(0, 24),
        6: np.r_[24:40, 0:8],
        9: np.arange(8, 32),
        10: np.arange(32, 40),
    }
    for tag, series in layer_records(tmp_path).items():
        assert [s for s, _ in series] == [0, 3, 6, 9, 10]
        for step, record in series[1:]:
            assert_record(record, truth[tag][rows_per_record[step]])


def test_steps_keep_increasing_across_fit_calls_even_after_recompiling(tmp_path):
    model = frozen(mlp())
    x, y = data(24)
    monitor = DeadReluMonitor(tmp_path)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[monitor])
    frozen(model)  # a new optimizer: its iteration count starts again at 0
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[monitor])
    truth = mlp_activations(model, x)
    for tag, series in layer_records(tmp_path).items():
        assert [s for s, _ in series] == [0, 1, 2, 3]  # the second fit() goes on at epoch 3
        assert_record(series[-1][1], truth[tag])
    # After the monitor is gone, fit() runs the model's own train step again.
    assert "train_step" not in vars(model)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert [s for s, _ in layer_records(tmp_path)["hidden"]] == [0, 1, 2, 3]


class TrainFunctions(keras.callbacks.Callback):
    """Notes the train function each batch of each fit() is about to run."""

    functions = ()

    def on_train_batch_begin(self, batch, logs=None):
        self.functions += (self.model.train_function,)


def test_second_fit_reuses_the_counting_step_and_still_counts_new_shapes(tmp_path):
    model = frozen(mlp())
    x, y = data(24)
    monitor = DeadReluMonitor(tmp_path)
    seen = TrainFunctions()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[monitor, seen])
    counting = monitor._counting_train_function[1]
    plain_seen = TrainFunctions()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[plain_seen])  # not counted
    # Batch size 5 is a new input shape: the kept counting step traces again.
    model.fit(x, y, batch_size=5, epochs=1, verbose=0, callbacks=[monitor, seen])
    assert monitor._counting_train_function[1] is counting
    # Every batch of the monitored fit() calls ran the counting function; the plain fit() its own.
    assert len(seen.functions) == 3 + 5
    assert all(f.__name__ == "counting_once" for f in seen.functions)
    assert [f is model.train_function for f in plain_seen.functions] == [True] * 3
    truth = mlp_activations(model, x)
    for tag, series in layer_records(tmp_path).items():
        # The uncounted fit() is not an epoch of this monitor: epoch 2 follows
        # epoch 1, and step 1 already holds a record, so no first-batch record.
        assert [s for s, _ in series] == [0, 1, 2]
        assert_record(series[1][1], truth[tag])
        assert_record(series[2][1], truth[tag])


class Interrupt(keras.callbacks.Callback):
    """Raises ``error`` from on_train_batch_end of batch ``at_batch`` of the second epoch, or from on_epoch_end."""

    def __init__(self, error, at_batch=None):
        super().__init__()
        self.error, self.at_batch = error, at_batch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.at_batch is not None and self.epoch == 1 and batch == self.at_batch:
            raise self.error

    def on_epoch_end(self, epoch, logs=None):
        if self.at_batch is None and epoch == 1:
            raise self.error


def open_files_under(folder):
    """Paths under ``folder`` this process has open (from /proc/self/fd)."""
    paths = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            path = os.readlink(os.path.join("/proc/self/fd", fd))
        except OSError:
            continue
        if path.startswith(str(folder)):
            paths.append(path)
    return paths


@pytest.mark.parametrize(
    "error, at_batch, steps_on_disk",
    [
        (KeyboardInterrupt(), 1, [0, 1]),  # Ctrl-C in the second epoch: its record is never written
        (RuntimeError("interrupted"), None, [0, 1, 2]),  # raised after the monitor wrote epoch 2
    ],
)
def test_a_fit_that_raises_leaves_the_model_as_it_was_and_its_records_on_disk(tmp_path, error, at_batch, steps_on_disk):
    model = frozen(mlp())
    x, y = data(24)  # 3 batches of 8
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # fit()'s own train function exists
    own_train_function = model.train_function
    layer_attributes = [dict(vars(layer)) for layer in model.layers]
    monitor = DeadReluMonitor(tmp_path)
    with pytest.raises(type(error)):
        model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[monitor, Interrupt(error, at_batch)])
    # The model is as it was: its own train function, no wrapper on a layer or the model.
    assert model.train_function is own_train_function
    assert "train_step" not in vars(model)
    for layer, before in zip(model.layers, layer_attributes):
        assert "call" not in vars(layer)
        assert {k: v for k, v in vars(layer).items() if callable(v)} == {k: v for k, v in before.items() if callable(v)}
    # Every record written so far is on disk, and no file is left open.
    series = layer_records(tmp_path)["hidden"]
    assert [s for s, _ in series] == steps_on_disk
    assert_record(series[-1][1], mlp_activations(model, x)["hidden"])
    assert open_files_under(tmp_path) == []
    # A later fit() without the monitor counts nothing.
    counted = monitor._counter.result()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for before, after in zip(counted, monitor._counter.result()):
        np.testing.assert_array_equal(before["zeros"], after["zeros"])
        assert before["count"] == after["count"]
    # And a later fit() with it goes on where it stopped.
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[monitor])
    assert [s for s, _ in layer_records(tmp_path)["hidden"]] == steps_on_disk + [steps_on_disk[-1] + 1]


def test_two_counting_monitors_in_one_fit_are_refused(tmp_path):
    model = frozen(mlp())
    x, y = data(8)
    with pytest.raises(ValueError, match="probe_data"):
        model.fit(x, y, verbose=0, callbacks=[DeadReluMonitor(tmp_path / "a"), DeadReluMonitor(tmp_path / "b")])


def test_dead_fraction_scalars_in_the_same_run(tmp_path):
    model = mlp()
    # Two of the six hidden units can never fire: a bias of -100.
    kernel, bias = model.get_layer("hidden").get_weights()
    bias[:2] = -100.0
    model.get_layer("hidden").set_weights([kernel, bias])
    frozen(model)
    x, y = data(16)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[DeadReluMonitor(tmp_path)])
    records = layer_records(tmp_path)
    scalars = scalar_values(tmp_path)
    assert set(scalars) == {"deadrelu/hidden/dead_fraction", "deadrelu/relu/dead_fraction"}
    for tag, series in records.items():
        steps, values = zip(*scalars["deadrelu/%s/dead_fraction" % tag])
        assert list(steps) == [s for s, _ in series]
        assert list(values) == pytest.approx([np.mean(r.dead) for _, r in series])
    assert records["hidden"][-1][1].dead.tolist()[:2] == [True, True]


def test_article_case_single_relu_unit_ends_dead(tmp_path):
    """Inputs uniform(-1, 0), one Dense(1, relu) unit with zero bias, a negative
    regression target: gradient descent pushes the unit below zero on every input,
    where its gradient is zero for good. Negative initial weights make it fire on
    every input at the start."""
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 0, size=(256, 10)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    unit = keras.layers.Dense(
        1, activation="relu", name="unit", bias_initializer="zeros",
        kernel_initializer=keras.initializers.RandomUniform(-1.0, 0.0, seed=3),
    )
    model = keras.Sequential([keras.Input((10,)), unit])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
    model.fit(x, y, batch_size=32, epochs=6, verbose=0, callbacks=[DeadReluMonitor(tmp_path)])
    series = layer_records(tmp_path)["unit"]
    first, last = series[0][1], series[-1][1]
    assert first.zeros[0] == 0  # alive at the start: it fires on every input
    assert last.dead[0] and last.count == 256
    # And it is dead for good: numpy over the whole set with the final weights.
    assert np.all(dense(x, model.get_layer("unit"), relu) == 0)


# --------------------------------------------------------------------------
# Probe


class WeightSnapshots(keras.callbacks.Callback):
    """Keeps the model's weights at the start and at every epoch end."""

    def on_train_begin(self, logs=None):
        self.snapshots = [self.model.get_weights()]

    def on_epoch_end(self, epoch, logs=None):
        self.snapshots.append(self.model.get_weights())


def test_probe_records_equal_numpy_over_the_probe_rows(tmp_path, monkeypatch):
    # Small probe chunks, so the sums over several chunks are checked too.
    monkeypatch.setattr(monitor_module, "PROBE_BATCH_SIZE", 7)
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.2), loss="mse")
    x, y = data(32)
    probe_x, probe_y = data(50, seed=5)
    snapshots = WeightSnapshots()
    model.fit(
        x, y, batch_size=8, epochs=2, verbose=0,
        callbacks=[DeadReluMonitor(tmp_path, probe_data=(probe_x, probe_y), probe_size=30), snapshots],
    )
    records = layer_records(tmp_path)
    probe_model = mlp(name="ground_truth")
    for tag, series in records.items():
        assert [s for s, _ in series] == [0, 1, 2]
        for (step, record), weights in zip(series, snapshots.snapshots):
            probe_model.set_weights(weights)
            assert_record(record, mlp_activations(probe_model, probe_x[:30])[tag])
    # The weights moved, so the snapshots differ.
    assert records["hidden"][0][1].abs_sum.tolist() != records["hidden"][-1][1].abs_sum.tolist()


def test_probe_every_n_batches(tmp_path):
    model = frozen(mlp())
    x, y = data(24)  # 3 batches
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[DeadReluMonitor(tmp_path, probe_data=x[:10], update_freq=2)])
    truth = mlp_activations(model, x[:10])
    for tag, series in layer_records(tmp_path).items():
        assert [s for s, _ in series] == [0, 2, 3]  # the last: when fit() ends
        for _, record in series:
            assert_record(record, truth[tag])


# --------------------------------------------------------------------------
# Choosing layers


def test_auto_detection_picks_exactly_the_relu_family():
    inputs = keras.Input((4,))
    h = keras.layers.Dense(3, activation="relu", name="dense_relu")(inputs)
    h = keras.layers.Dense(3, activation="relu6", name="dense_relu6")(h)
    h = keras.layers.Dense(3, activation="tanh", name="dense_tanh")(h)
    h = keras.layers.Dense(3, activation="leaky_relu", name="dense_leaky")(h)
    h = keras.layers.Dense(3, activation="hard_silu", name="dense_hard_silu")(h)
    h = keras.layers.Dense(3, name="dense_linear")(h)
    h = keras.layers.ReLU(name="relu_layer")(h)
    h = keras.layers.ReLU(negative_slope=0.1, name="leaky_relu_layer")(h)
    h = keras.layers.LeakyReLU(name="leakyrelu_layer")(h)
    h = keras.layers.Activation("relu", name="activation_relu")(h)
    h = keras.layers.Activation("selu", name="activation_selu")(h)
    h = keras.layers.Activation(keras.activations.relu, name="activation_fn")(h)
    h = keras.layers.Reshape((3, 1))(h)
    h = keras.layers.Conv1D(2, 1, activation="relu", name="conv_relu")(h)
    h = keras.layers.SimpleRNN(2, activation="relu", name="rnn_relu")(h)
    model = keras.Model(inputs, h)
    assert [layer.name for layer in find_relu_layers(model)] == [
        "dense_relu", "dense_relu6", "dense_hard_silu", "relu_layer",
        "activation_relu", "activation_fn", "conv_relu",
    ]


def test_layers_by_name_and_object_are_recorded_in_model_order(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(4, activation="relu", name="first"),
            keras.layers.Dense(4, activation="relu", name="second"),
            keras.layers.Dense(4, activation="tanh", name="third"),
            keras.layers.Dense(1),
        ]
    )
    frozen(model)
    x, y = data(16)
    monitor = DeadReluMonitor(tmp_path, layers=[model.get_layer("third"), "first"])
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[monitor])
    records = layer_records(tmp_path)
    assert set(records) == {"first", "third"}
    assert record_orders(tmp_path) == {"first": 0, "third": 1}
    first = dense(x, model.get_layer("first"), relu)
    third = dense(dense(first, model.get_layer("second"), relu), model.get_layer("third"), np.tanh)
    assert_record(records["first"][-1][1], first)
    assert_record(records["third"][-1][1], third)  # tanh: recorded although not ReLU


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(6, activation="relu", name="hidden")
        self.gate = keras.layers.ReLU(name="gate")
        self.out = keras.layers.Dense(1, name="out")

    def call(self, x):
        return self.out(self.gate(self.hidden(x) - 0.5))


def test_subclassed_model_gets_the_same_service(tmp_path):
    model = frozen(Subclassed())
    x, y = data(20)
    probe_dir = tmp_path / "probe"
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[DeadReluMonitor(tmp_path / "train")])
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[DeadReluMonitor(probe_dir, probe_data=x[:12])])
    hidden = dense(x, model.hidden, relu)
    truth = {"hidden": hidden, "gate": relu(hidden - 0.5)}
    trained = layer_records(tmp_path / "train")
    probed = layer_records(probe_dir)
    assert set(trained) == set(probed) == {"hidden", "gate"}
    for tag in truth:
        assert_record(trained[tag][-1][1], truth[tag])
        assert_record(probed[tag][-1][1], truth[tag][:12])


def test_sequential_without_input_in_both_modes(tmp_path):
    def unbuilt():
        model = keras.Sequential([keras.layers.Dense(6, activation="relu", name="hidden"), keras.layers.Dense(1)])
        return frozen(model)

    x, y = data(16)
    for mode, kwargs in (("train", {}), ("probe", {"probe_data": x[:8]})):
        model = unbuilt()
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[DeadReluMonitor(tmp_path / mode, **kwargs)])
        hidden = dense(x, model.get_layer("hidden"), relu)
        series = layer_records(tmp_path / mode)["hidden"]
        assert [s for s, _ in series] == [0, 1]
        assert_record(series[-1][1], hidden if mode == "train" else hidden[:8])


# Keras warns about the failed build it tried itself; the error is what matters.
@pytest.mark.filterwarnings("ignore:.*unbuilt state:UserWarning")
def test_probe_data_that_cannot_build_the_model_is_refused(tmp_path):
    model = frozen(Subclassed())
    x, y = data(8)
    with pytest.raises(ValueError, match="probe_data"):
        model.fit(x, y, verbose=0, callbacks=[DeadReluMonitor(tmp_path, probe_data=[x, x])])


class WithUnusedLayer(Subclassed):
    def __init__(self):
        super().__init__()
        self.unused = keras.layers.Dense(3, activation="relu", name="unused")


# Keras warns about the failed build it tried itself; the error is what matters.
@pytest.mark.filterwarnings("ignore:.*unbuilt state:UserWarning")
def test_a_layer_the_forward_pass_never_calls_is_named(tmp_path):
    x, y = data(8)
    for kwargs in ({}, {"probe_data": x}):
        model = frozen(WithUnusedLayer())
        with pytest.raises(ValueError, match="layers: 'unused' is not called"):
            model.fit(x, y, verbose=0, callbacks=[DeadReluMonitor(tmp_path, **kwargs)])


class FunctionalReluInside(keras.Model):
    """Applies ReLU with keras.ops inside call(): no layer to watch."""

    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(6, name="hidden")
        self.out = keras.layers.Dense(1, name="out")

    def call(self, x):
        return self.out(keras.ops.relu(self.hidden(x)))


def test_subclassed_model_with_ops_relu_gets_an_error_saying_what_to_do(tmp_path):
    model = frozen(FunctionalReluInside())
    x, y = data(8)
    with pytest.raises(ValueError, match="layers") as error:
        model.fit(x, y, verbose=0, callbacks=[DeadReluMonitor(tmp_path)])
    assert "keras.layers.ReLU" in str(error.value)


# --------------------------------------------------------------------------
# Early warning


def half_dead_mlp():
    model = mlp()
    kernel, bias = model.get_layer("hidden").get_weights()
    bias[:3] = -100.0  # 3 of 6 units never fire
    model.get_layer("hidden").set_weights([kernel, bias])
    return frozen(model)


def test_warn_above_logs_once_when_a_layer_crosses_it(tmp_path, caplog):
    model = half_dead_mlp()
    x, y = data(16)
    with caplog.at_level(logging.WARNING, logger=record_loop.__name__):
        history = model.fit(x, y, batch_size=8, epochs=3, verbose=0,
                            callbacks=[DeadReluMonitor(tmp_path, layers=["hidden"], warn_above=0.4)])
    warnings = [r.getMessage() for r in caplog.records if r.name == record_loop.__name__]
    assert len(warnings) == 1  # it stays above: no repeat every epoch
    assert "'hidden'" in warnings[0] and "50.0%" in warnings[0] and "step 0" in warnings[0]
    assert "3 of 6" in warnings[0]
    assert len(history.epoch) == 3  # warning only: training went on


def test_stop_above_stops_training(tmp_path, caplog):
    model = half_dead_mlp()
    x, y = data(16)
    with caplog.at_level(logging.WARNING, logger=record_loop.__name__):
        history = model.fit(x, y, batch_size=8, epochs=5, verbose=0,
                            callbacks=[DeadReluMonitor(tmp_path, probe_data=x, stop_above=0.45)])
    assert len(history.epoch) == 1
    assert any("stopping training" in r.getMessage() for r in caplog.records)


def test_thresholds_not_crossed_stay_silent(tmp_path, caplog):
    model = half_dead_mlp()
    x, y = data(16)
    with caplog.at_level(logging.WARNING, logger=record_loop.__name__):
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0,
                            callbacks=[DeadReluMonitor(tmp_path, layers=["hidden"], warn_above=0.5, stop_above=0.5)])
    assert not [r for r in caplog.records if r.name == record_loop.__name__]
    assert len(history.epoch) == 2


# --------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"log_dir": ""}, "log_dir"),
        ({"log_dir": None}, "log_dir"),
        ({"update_freq": 0}, "update_freq"),
        ({"update_freq": "often"}, "update_freq"),
        ({"run": "/abs"}, "run"),
        ({"update_freq": True}, "update_freq"),
        ({"probe_size": 0}, "probe_size"),
        ({"probe_data": np.zeros((0, 5))}, "probe_data"),
        ({"probe_data": np.array(["a", "b"])}, "probe_data"),
        ({"probe_data": (np.zeros((3, 5)), np.zeros(3), np.zeros(3), np.zeros(3))}, "probe_data"),
        ({"probe_data": [np.zeros((3, 5)), np.zeros((4, 5))]}, "probe_data"),
        ({"layers": []}, "layers"),
        ({"layers": [3]}, "layers"),
        ({"warn_above": 1.5}, "warn_above"),
        ({"stop_above": -0.1}, "stop_above"),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path, kwargs, argument):
    kwargs = {"log_dir": str(tmp_path), **kwargs}
    with pytest.raises(ValueError, match=argument):
        DeadReluMonitor(**kwargs)


def test_log_dir_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "file"
    path.write_text("not a directory")
    with pytest.raises(ValueError, match="log_dir"):
        DeadReluMonitor(path)


def test_unknown_layer_name_lists_the_available_names(tmp_path):
    model = frozen(mlp())
    x, y = data(8)
    with pytest.raises(ValueError, match="layers") as error:
        model.fit(x, y, verbose=0, callbacks=[DeadReluMonitor(tmp_path, layers=["hiden"])])
    assert "'hiden'" in str(error.value)
    for name in ("hidden", "linear", "relu", "out"):
        assert name in str(error.value)


def test_layer_object_of_another_model_is_refused(tmp_path):
    model = frozen(mlp())
    other = mlp(name="other")
    x, y = data(8)
    with pytest.raises(ValueError, match="layers"):
        model.fit(x, y, verbose=0, callbacks=[DeadReluMonitor(tmp_path, layers=[other.get_layer("hidden")])])


def test_probe_data_of_the_wrong_shape_is_refused(tmp_path):
    model = frozen(mlp())
    x, y = data(8)
    with pytest.raises(ValueError, match="probe_data") as error:
        model.fit(x, y, verbose=0, callbacks=[DeadReluMonitor(tmp_path, probe_data=np.zeros((4, 3)))])
    assert "(4, 3)" in str(error.value)
    # Nothing was left wrapped by the failed start.
    assert "call" not in vars(model.get_layer("hidden"))


def test_model_without_relu_layers_says_to_pass_layers(tmp_path):
    model = frozen(keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)]))
    x, y = data(8)
    with pytest.raises(ValueError, match="layers="):
        model.fit(x, y, verbose=0, callbacks=[DeadReluMonitor(tmp_path)])


# --------------------------------------------------------------------------
# Steps


@pytest.mark.parametrize("mode", ["train", "probe"])
def test_epoch_steps_follow_initial_epoch_and_never_go_back(tmp_path, mode):
    model = frozen(mlp())
    x, y = data(16)
    monitor = DeadReluMonitor(tmp_path, **({"probe_data": x[:6]} if mode == "probe" else {}))
    # Resuming at epoch 3: the weights as they are at step 3, then epochs 4 and 5.
    model.fit(x, y, batch_size=8, initial_epoch=3, epochs=5, shuffle=False, verbose=0, callbacks=[monitor])
    # A fit() from epoch 0 goes on after the monitor's last epoch.
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[monitor])
    # An initial_epoch ahead of the monitor's count jumps there.
    model.fit(x, y, batch_size=8, initial_epoch=9, epochs=10, shuffle=False, verbose=0, callbacks=[monitor])
    truth = mlp_activations(model, x if mode == "train" else x[:6])
    series = layer_records(tmp_path)["hidden"]
    assert [s for s, _ in series] == [3, 4, 5, 6, 7, 9, 10]
    for step, record in series:
        if mode == "probe" or step not in (3, 9):  # counting: 3 and 9 hold the first batch alone
            assert_record(record, truth["hidden"])
        else:
            assert_record(record, truth["hidden"][:8])
    assert [s for s, _ in scalar_values(tmp_path)["deadrelu/hidden/dead_fraction"]] == [3, 4, 5, 6, 7, 9, 10]


# --------------------------------------------------------------------------
# Beside Keras's own TensorBoard callback, and quiet


def test_beside_keras_tensorboard_callback_both_land_in_one_run(tmp_path):
    model = frozen(mlp())
    x, y = data(24)
    model.fit(
        x, y, batch_size=8, epochs=2, verbose=0, validation_data=data(8, seed=2),
        callbacks=[
            keras.callbacks.TensorBoard(log_dir=str(tmp_path), update_freq="batch"),
            DeadReluMonitor(tmp_path, update_freq="batch"),
        ],
    )
    tags_by_run = {}
    for run, event in read_events(str(tmp_path)):
        for value in event.summary.value:
            tags_by_run.setdefault(run, set()).add(value.tag)
    assert set(tags_by_run) == {"train", "validation"}
    # Keras's loss, and the monitor's records and dead share, in one run: one chart can hold both.
    assert {"epoch_loss", "batch_loss", "hidden", "relu", "deadrelu/hidden/dead_fraction"} <= tags_by_run["train"]
    assert not any(tag.startswith("deadrelu/") or tag in ("hidden", "relu") for tag in tags_by_run["validation"])
    # update_freq="batch": a record after every one of the 6 batches, plus step 0.
    assert [s for s, _ in layer_records(tmp_path)["hidden"]] == [0, 1, 2, 3, 4, 5, 6]


QUIET_FIT = """
import sys
import numpy as np
import keras
from tensorboard_plugin_deadrelu.keras import DeadReluMonitor
model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
x = np.random.default_rng(0).normal(size=(64, 5)).astype("float32")
log_dir, mode = sys.argv[1:]
callbacks = {"plain": [], "counting": [DeadReluMonitor(log_dir)], "probe": [DeadReluMonitor(log_dir, probe_data=x)]}
print("FIT STARTS", file=sys.stderr, flush=True)
model.fit(x, x[:, :1], batch_size=16, epochs=2, verbose=0, callbacks=callbacks[mode])
print("FIT ENDS", file=sys.stderr, flush=True)
"""


@pytest.mark.slow
def test_a_cpu_fit_with_the_monitor_prints_what_keras_alone_prints(tmp_path):
    # As from a user's shell: importing TensorFlow in this process set TF_CPP_MIN_LOG_LEVEL=1 here.
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}

    def stderr_of_fit(mode):
        result = subprocess.run(
            [sys.executable, "-c", QUIET_FIT, str(tmp_path / mode), mode],
            capture_output=True, text=True, timeout=240, env=env,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stderr.split("FIT STARTS\n", 1)[1]

    # Both modes compile the reduction with XLA, each in a fresh process.
    assert stderr_of_fit("plain") == stderr_of_fit("counting") == stderr_of_fit("probe") == "FIT ENDS\n"
    assert layer_records(tmp_path / "counting") and layer_records(tmp_path / "probe")  # the monitors did record


def test_step_zero_counts_the_first_call_of_the_train_function_with_steps_per_execution(tmp_path):
    # steps_per_execution=4: one call of the train function runs 4 batches, so the
    # step-0 record holds the sums over the first 4 batches (as docs/keras.md says).
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse", steps_per_execution=4)
    x, y = data(56)  # 7 batches of 8: one call of 4 batches, then one of 3
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[DeadReluMonitor(tmp_path)])
    truth = mlp_activations(model, x)
    for tag, series in layer_records(tmp_path).items():
        assert [s for s, _ in series] == [0, 1]
        step, record = series[0]
        assert record.count == 32
        assert_record(record, truth[tag][:32])  # zeros, abs_sum, nonfinite against numpy sums
        assert_record(series[1][1], truth[tag])
