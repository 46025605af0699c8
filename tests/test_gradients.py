"""Gradient records: d(loss)/d(pre-activation) per unit, written by the summary op,
its numpy twin, the Accumulator and the Keras monitor's probe. Every number is
checked against a backward pass written out by hand in numpy from the layers'
weights (no TensorFlow in the ground truth), read back from real event files."""


import numpy as np
import pytest

# The TensorFlow half of the package; the TF-free parts are tested without it.
tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402  (after the skip: its default backend is TensorFlow)

from tensorboard.compat.proto import event_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from tensorboard_plugin_deadrelu.keras import gradients as gradients_module
from tensorboard_plugin_deadrelu.keras import monitor as monitor_module
from tensorboard_plugin_deadrelu.writing import summary
from tensorboard_plugin_deadrelu.keras import DeadReluMonitor
from tests.eventfiles import plugin_contents, read_records
from tests.oracle import assert_record

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# --------------------------------------------------------------------------
# Ground truth, in numpy (float64)


def weights(layer):
    return [np.asarray(w, np.float64) for w in layer.get_weights()]


def selu(z):
    return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * (np.exp(z) - 1))


def selu_derivative(z):
    # At z == 0 (a row where every input unit is off and the bias is 0)
    # TensorFlow takes the right-hand slope, as for ELU.
    return SELU_SCALE * np.where(z >= 0, 1.0, SELU_ALPHA * np.exp(z))


def kinds_by_tag(logdir):
    return {tag: content.kind for tag, content in plugin_contents(str(logdir)).items()}


def series(logdir, run="."):
    return {tag: points for (r, tag), points in read_records(str(logdir)).items() if r == run}


@pytest.fixture(autouse=True)
def seeded():
    keras.utils.set_random_seed(1234)


# --------------------------------------------------------------------------
# summary.gradients, its numpy twin and the Accumulator


def two_layer_net(rng):
    """Weights of x -> relu(x @ w1 + b1) -> @ w2 + b2, two hidden units dead by bias."""
    w1 = rng.normal(size=(5, 6)).astype(np.float32)
    b1 = rng.normal(size=6).astype(np.float32)
    b1[:2] = -100.0
    w2 = rng.normal(size=(6, 2)).astype(np.float32)
    b2 = rng.normal(size=2).astype(np.float32)
    return w1, b1, w2, b2


def hand_gradient(x, y, w1, b1, w2, b2):
    """d(sum_i ||out_i - y_i||^2)/dz of the hidden layer, z = x @ w1 + b1, by hand."""
    x, y, w1, b1, w2, b2 = (np.asarray(a, np.float64) for a in (x, y, w1, b1, w2, b2))
    z = x @ w1 + b1
    out = np.maximum(z, 0) @ w2 + b2
    return ((2 * (out - y)) @ w2.T) * (z > 0)


def test_summary_gradients_writes_the_tape_gradient_as_a_gradient_series(tmp_path):
    rng = np.random.default_rng(0)
    w1, b1, w2, b2 = two_layer_net(rng)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    y = rng.normal(size=(40, 2)).astype(np.float32)

    with tf.GradientTape() as tape:
        z = tf.constant(x) @ w1 + b1
        tape.watch(z)
        hidden = tf.nn.relu(z)
        loss = tf.reduce_sum(tf.square(hidden @ w2 + b2 - y))
    dz = tape.gradient(loss, z)
    writer = tf.summary.create_file_writer(str(tmp_path / "tf"))
    with writer.as_default(step=3):
        assert bool(summary.activations("hidden", hidden))
        assert bool(summary.gradients("hidden", dz))
        with tf.name_scope("block"):
            assert bool(summary.gradients("hidden", dz))
    writer.close()
    numpy_writer = EventFileWriter(str(tmp_path / "numpy"))
    event = event_pb2.Event(step=3, wall_time=1_600_000_000.0)
    event.summary.CopyFrom(summary.gradients_pb("hidden", dz.numpy(), description="twin"))
    numpy_writer.add_event(event)
    numpy_writer.close()

    records = read_records(str(tmp_path))
    truth = hand_gradient(x, y, w1, b1, w2, b2)
    for key in (("tf", "hidden/gradients"), ("tf", "block/hidden/gradients"), ("numpy", "hidden/gradients")):
        [(step, record)] = records[key]
        assert step == 3
        assert_record(record, truth)
    gradient = records[("tf", "hidden/gradients")][0][1]
    assert gradient.dead[:2].all() and not gradient.dead[2:].any()  # dead ReLU units get zero gradient
    assert kinds_by_tag(tmp_path / "tf") == {
        "hidden": "activations", "hidden/gradients": "gradients", "block/hidden/gradients": "gradients",
    }
    assert kinds_by_tag(tmp_path / "numpy") == {"hidden/gradients": "gradients"}


def test_gradient_accumulator_sums_batches_under_the_gradient_tag(tmp_path):
    rng = np.random.default_rng(1)
    w1, b1, w2, b2 = two_layer_net(rng)
    x = rng.normal(size=(30, 5)).astype(np.float32)
    y = rng.normal(size=(30, 2)).astype(np.float32)
    accumulator = summary.Accumulator(kind="gradients")

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            z = x @ w1 + b1
            tape.watch(z)
            loss = tf.reduce_sum(tf.square(tf.nn.relu(z) @ w2 + b2 - y))
        accumulator.update("hidden", tape.gradient(loss, z))

    for start in range(0, 30, 8):  # a partial last batch of 6
        step(x[start:start + 8], y[start:start + 8])
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        accumulator.write(step=1)
    writer.close()

    [(step_written, record)] = series(tmp_path)["hidden/gradients"]
    assert step_written == 1
    assert_record(record, hand_gradient(x, y, w1, b1, w2, b2))
    assert kinds_by_tag(tmp_path) == {"hidden/gradients": "gradients"}


def test_gradient_writers_refuse_bad_input():
    with pytest.raises(ValueError, match="kind"):
        summary.Accumulator(kind="weights")
    for write in (
        lambda data: summary.gradients("layer", data, step=0),
        lambda data: summary.gradients_pb("layer", data),
    ):
        with pytest.raises(ValueError, match="data"):
            write(np.ones(5, np.float32))
    with pytest.raises(ValueError, match="name"):
        summary.gradients_pb("", np.ones((2, 2), np.float32))


# --------------------------------------------------------------------------
# The Keras monitor's probe


def relu_selu_mlp():
    """Dense(relu) -> Dropout -> Dense(selu) -> Dense(2); two hidden ReLU units dead by bias."""
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(6, activation="relu", name="hidden"),
            keras.layers.Dropout(0.5),  # the probe runs in inference mode: no effect
            keras.layers.Dense(4, activation="selu", name="selu"),
            keras.layers.Dense(2, name="out"),
        ]
    )
    kernel, bias = model.get_layer("hidden").get_weights()
    bias[:2] = -100.0
    model.get_layer("hidden").set_weights([kernel, bias])
    return model


def relu_selu_gradients(model, weights_list, x, y):
    """Per-example d(mse_i)/dz of 'hidden' and 'selu' by hand; mse_i = mean_j (out_ij - y_ij)^2."""
    probe_model = relu_selu_mlp()
    probe_model.set_weights(weights_list)
    (k1, b1), (k2, b2), (k3, b3) = (weights(probe_model.get_layer(n)) for n in ("hidden", "selu", "out"))
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    z1 = x @ k1 + b1
    z2 = np.maximum(z1, 0) @ k2 + b2
    out = selu(z2) @ k3 + b3
    d_out = 2 * (out - y) / y.shape[1]
    d_z2 = (d_out @ k3.T) * selu_derivative(z2)
    d_z1 = (d_z2 @ k2.T) * (z1 > 0)
    return {"hidden": d_z1, "selu": d_z2}


class WeightSnapshots(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.snapshots = [self.model.get_weights()]

    def on_epoch_end(self, epoch, logs=None):
        self.snapshots.append(self.model.get_weights())


@pytest.mark.parametrize("loss", ["mse", keras.losses.MeanSquaredError()], ids=["string", "Loss"])
def test_probe_gradients_equal_a_hand_written_backward_pass(tmp_path, monkeypatch, loss):
    # Chunks of 7 rows: the sum over examples makes chunk sums add up exactly.
    monkeypatch.setattr(monitor_module, "PROBE_BATCH_SIZE", 7)
    model = relu_selu_mlp()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=loss)
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(32, 5)).astype(np.float32), rng.normal(size=(32, 2)).astype(np.float32)
    probe_x, probe_y = rng.normal(size=(40, 5)).astype(np.float32), rng.normal(size=(40, 2)).astype(np.float32)
    snapshots = WeightSnapshots()
    monitor = DeadReluMonitor(tmp_path, layers=["hidden", "selu"], probe_data=(probe_x, probe_y), probe_size=30)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[monitor, snapshots])

    records = series(tmp_path, "train")
    assert set(records) == {"hidden", "selu", "hidden/gradients", "selu/gradients"}
    assert kinds_by_tag(tmp_path)["selu/gradients"] == "gradients"
    for tag in ("hidden", "selu"):
        points = records[tag + "/gradients"]
        assert [s for s, _ in points] == [s for s, _ in records[tag]] == [0, 1, 2]
        for (_, record), weights_list in zip(points, snapshots.snapshots):
            assert_record(record, relu_selu_gradients(model, weights_list, probe_x[:30], probe_y[:30])[tag])
    for _, record in records["hidden/gradients"]:
        np.testing.assert_array_equal(record.zeros[:2], record.count)  # dead: zero gradient on every row
        assert (record.zeros[2:] < record.count).all()
    for _, record in records["selu/gradients"]:
        np.testing.assert_array_equal(record.zeros, 0)  # SELU: small but never exactly zero
        assert (record.abs_sum > 0).all()
    # Capturing restored the layers: the model computes what it computed before.
    assert "activation" in vars(model.get_layer("hidden"))
    assert model.get_layer("hidden").activation is keras.activations.relu


def test_activation_layer_gradient_is_taken_through_the_activation_only(tmp_path):
    """ReLU and Activation layers: z is their input. A skip connection also reads
    z; the recorded gradient is the one through the activation, and the model's
    output with the capture in place is bit-identical."""
    inputs = keras.Input((4,))
    z = keras.layers.Dense(5, name="pre")(inputs)
    relu_out = keras.layers.ReLU(name="relu")(z)
    tanh_out = keras.layers.Activation("tanh", name="tanh")(z)
    outputs = keras.layers.Dense(1, name="out")(keras.layers.Add()([relu_out, tanh_out, z]))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(24, 4)).astype(np.float32), rng.normal(size=(24, 1)).astype(np.float32)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[DeadReluMonitor(tmp_path, layers=["relu", "tanh"], probe_data=(x, y))])

    (k1, b1), (k2, b2) = weights(model.get_layer("pre")), weights(model.get_layer("out"))
    pre = x.astype(np.float64) @ k1 + b1
    out = (np.maximum(pre, 0) + np.tanh(pre) + pre) @ k2 + b2
    d_sum = (2 * (out - y)) @ k2.T  # d(loss)/d(each input of Add)
    records = series(tmp_path, "train")
    assert_record(records["relu/gradients"][-1][1], d_sum * (pre > 0))
    assert_record(records["tanh/gradients"][-1][1], d_sum * (1 - np.tanh(pre) ** 2))

    layers = [model.get_layer("relu"), model.get_layer("tanh")]
    captured = [[], []]
    with tf.GradientTape():
        with gradients_module.watching_preactivations(layers, lambda z: z + 0.0, captured):
            with_capture = model(x, training=False)
    np.testing.assert_array_equal(with_capture.numpy(), model(x, training=False).numpy())
    assert [len(calls) for calls in captured] == [1, 1]
    assert "call" not in vars(model.get_layer("relu"))


def test_conv_gradients_with_loss_fn_and_sample_weights(tmp_path):
    inputs = keras.Input((5, 5, 2))
    conv = keras.layers.Conv2D(3, 2, activation="relu", name="conv")(inputs)
    outputs = keras.layers.Dense(1, name="out")(keras.layers.Flatten()(conv))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(12, 5, 5, 2)).astype(np.float32)
    y = rng.normal(size=(12, 1)).astype(np.float32)
    sample_weight = rng.uniform(0.5, 2.0, size=12).astype(np.float32)
    sample_weight[0] = 0.0  # an example that does not count: its gradient is exactly 0

    def absolute_error(y_true, y_pred):
        return keras.ops.sum(keras.ops.abs(y_pred - y_true), axis=-1)

    model.fit(x, y, batch_size=6, epochs=1, verbose=0, callbacks=[
        DeadReluMonitor(tmp_path, probe_data=(x, y, sample_weight), loss_fn=absolute_error)])

    (kernel, bias), (k2, b2) = weights(model.get_layer("conv")), weights(model.get_layer("out"))
    windows = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), (2, 2), axis=(1, 2))
    z = np.einsum("nhwcij,ijcf->nhwf", windows, kernel) + bias  # [12, 4, 4, 3]
    out = np.maximum(z, 0).reshape(12, -1) @ k2 + b2
    d_out = np.sign(out - y) * sample_weight[:, None]
    d_z = (d_out @ k2.T).reshape(z.shape) * (z > 0)
    record = series(tmp_path, "train")["conv/gradients"][-1][1]
    assert record.count == 12 * 16  # rows x positions: a channel is a unit
    assert_record(record, d_z)


# --------------------------------------------------------------------------
# Turning gradients on and off, and errors


def small_model(loss="mse"):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu", name="hidden"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss=loss)
    return model


def test_gradients_only_with_targets_unless_turned_off(tmp_path):
    x = np.random.default_rng(5).normal(size=(8, 3)).astype(np.float32)
    y = np.zeros((8, 1), np.float32)
    cases = {
        "inputs_only": {"probe_data": x},
        "targets": {"probe_data": (x, y)},
        "turned_off": {"probe_data": (x, y), "record_gradients": False},
        "counting": {},
    }
    model = small_model()
    for run, kwargs in cases.items():
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[DeadReluMonitor(tmp_path / run, **kwargs)])
    tags = {run: set(series(tmp_path / run, "train")) for run in cases}
    assert tags == {
        "inputs_only": {"hidden"},
        "targets": {"hidden", "hidden/gradients"},
        "turned_off": {"hidden"},
        "counting": {"hidden"},
    }


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"record_gradients": True}, "probe_data"),
        ({"record_gradients": True, "probe_data": np.zeros((4, 3))}, "probe_data"),
        ({"record_gradients": "yes", "probe_data": (np.zeros((4, 3)), np.zeros((4, 1)))}, "record_gradients"),
        ({"loss_fn": 3, "probe_data": (np.zeros((4, 3)), np.zeros((4, 1)))}, "loss_fn"),
        ({"loss_fn": keras.losses.mean_squared_error, "probe_data": np.zeros((4, 3))}, "loss_fn"),
        ({"probe_data": (np.zeros((4, 3)), np.zeros((5, 1)))}, "probe_data"),
        ({"probe_data": (np.zeros((4, 3)), np.array(["a"] * 4))}, "probe_data"),
    ],
)
def test_bad_gradient_arguments_name_the_argument(tmp_path, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        DeadReluMonitor(tmp_path, **kwargs)


def test_no_single_loss_or_no_visible_pre_activation_is_refused_at_fit(tmp_path):
    x = np.zeros((4, 3), np.float32)
    y = np.zeros((4, 1), np.float32)
    without_loss = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu")])
    without_loss.compile(optimizer="sgd")  # the monitor speaks before fit()'s first step
    with pytest.raises(ValueError, match="loss_fn"):
        without_loss.fit(x, y, verbose=0, callbacks=[DeadReluMonitor(tmp_path, probe_data=(x, y))])

    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inputs)
    two_outputs = keras.Model(inputs, [keras.layers.Dense(1)(hidden), keras.layers.Dense(1)(hidden)])
    for loss in (["mse", "mae"], "mse"):  # a list of losses, or one loss for both outputs
        two_outputs.compile(optimizer="sgd", loss=loss)
        with pytest.raises(ValueError, match="loss_fn"):
            two_outputs.fit(x, [y, y], verbose=0, callbacks=[DeadReluMonitor(tmp_path, probe_data=(x, [y, y]))])

    model = small_model()  # a loss_fn that means the examples instead of returning them
    with pytest.raises(ValueError, match="loss_fn must return one loss per example"):
        model.fit(x, y, verbose=0, callbacks=[DeadReluMonitor(
            tmp_path, probe_data=(x, y), loss_fn=lambda t, p: keras.ops.mean(keras.ops.square(p - t)))])

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Flatten(name="flat"), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="record_gradients") as error:
        model.fit(x, y, verbose=0, callbacks=[DeadReluMonitor(tmp_path, layers=["flat"], probe_data=(x, y))])
    assert "'flat'" in str(error.value)
