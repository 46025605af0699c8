"""ReDo in the Keras monitor: ``DeadReluMonitor(..., recycle=ReDo())`` on tiny models, checked exactly.

The in-process tests run on the Keras backend of this process (TensorFlow by
default); ``test_other_backends`` runs this module's fast tests again in a
subprocess per backend (JAX, PyTorch), since Keras picks its backend once per
process. Snapshots are taken by callbacks placed before and after the monitor
in ``callbacks=[...]``: Keras calls them in that order, so they see the model
right before and right after a recycling.
"""

import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

from tensorboard_plugin_deadrelu.keras import DeadReluMonitor, ReDo
from tensorboard_plugin_deadrelu.keras import recycling
from tests.eventfiles import read_records

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKEND = keras.backend.backend()


def numpy_of(variable):
    return np.array(keras.ops.convert_to_numpy(getattr(variable, "value", variable)))


class Snapshot(keras.callbacks.Callback):
    """Keeps copies of every weight, optimizer variable and the model's output on ``x`` at a hook."""

    def __init__(self, x, hook="on_epoch_begin", epoch=0):
        super().__init__()
        self.x, self.hook, self.epoch, self.taken = x, hook, epoch, None
        setattr(self, hook, self._take)

    def _take(self, epoch, logs=None):
        if epoch != self.epoch:
            return
        model = self.model
        if BACKEND == "jax":
            model.jax_state_sync()
        self.taken = {
            "weights": {v.path: numpy_of(v) for v in model.weights},
            "optimizer": {v.path: numpy_of(v) for v in model.optimizer.variables},
            "output": numpy_of(model(self.x, training=False)),
        }


def dense_model(units=4, lr=0.01):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(units, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(2, name="out")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
    return model


def revive(model, layer, units):
    """Makes ``units`` of ``layer`` fire on any input in (0, 1): positive weights in."""
    kernel = model.get_layer(layer).kernel
    k = numpy_of(kernel)
    k[..., units] = np.abs(k[..., units]) + 0.1
    kernel.assign(k)


def kill(model, layer, units):
    """Makes ``units`` of ``layer`` output 0 for any input in (0, 1): negative weights in, bias -1."""
    kernel, bias = model.get_layer(layer).kernel, model.get_layer(layer).bias
    k, b = numpy_of(kernel), numpy_of(bias)
    k[..., units] = -np.abs(k[..., units]) - 0.1
    b[units] = -1.0
    kernel.assign(k)
    bias.assign(b)


def data(rows=64, shape=(3,), seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (rows,) + shape).astype("float32"), rng.normal(size=(rows, 2)).astype("float32")


def test_dense_recycling_touches_exactly_the_dead_units(tmp_path):
    x, y = data()
    model = dense_model()
    revive(model, "hidden", [0, 1, 2, 3])
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # non-zero Adam moments everywhere
    kill(model, "hidden", [0, 2])
    revive(model, "hidden", [1, 3])
    before, after = Snapshot(x), Snapshot(x)
    monitor = DeadReluMonitor(str(tmp_path), probe_data=x, recycle=ReDo())
    iterations = int(numpy_of(model.optimizer.iterations))
    model.fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[before, monitor, after])
    b, a = before.taken, after.taken
    dead, alive = [0, 2], [1, 3]

    kernel, bias, out_kernel, out_bias = "hidden/kernel", "hidden/bias", "out/kernel", "out/bias"
    assert np.all(a["weights"][kernel][:, dead] != b["weights"][kernel][:, dead])
    np.testing.assert_array_equal(a["weights"][kernel][:, alive], b["weights"][kernel][:, alive])
    np.testing.assert_array_equal(a["weights"][bias], np.where(np.isin(np.arange(4), dead), 0, b["weights"][bias]))
    expected_out = b["weights"][out_kernel].copy()
    expected_out[dead, :] = 0
    np.testing.assert_array_equal(a["weights"][out_kernel], expected_out)
    np.testing.assert_array_equal(a["weights"][out_bias], b["weights"][out_bias])
    # Dead units feed the output nothing, before and after: the output is the same.
    np.testing.assert_allclose(a["output"], b["output"], rtol=0, atol=1e-6)

    # Adam's moments: exactly the touched entries are 0, everything else untouched.
    touched = {kernel: (slice(None), dead), bias: (dead,), out_kernel: (dead, slice(None))}
    checked = 0
    for path, value in b["optimizer"].items():
        expected = value.copy()
        for weight, index in touched.items():
            if path.endswith(weight.replace("/", "_") + "_momentum") or path.endswith(weight.replace("/", "_") + "_velocity"):
                assert np.all(value[index] != 0), path  # it was trained
                expected[index] = 0
                checked += 1
        np.testing.assert_array_equal(a["optimizer"][path], expected, err_msg=path)
    assert checked == 6
    assert int(numpy_of(model.optimizer.iterations)) == iterations + 1  # one batch, no reset

    # The epoch-end record may find a fresh draw dead again: only its first recycling is checked.
    assert set(monitor.last_recycled) <= {"hidden"}
    records = read_records(str(tmp_path))
    recycled = records[("train", "hidden/recycled")]
    assert recycled[0][0] == 0
    assert recycled[0][1].count == 1
    np.testing.assert_array_equal(recycled[0][1].zeros, [1, 0, 1, 0])


def test_output_layer_is_never_redrawn_and_relu_output_layer_is_refused(tmp_path):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, activation="relu", name="last")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    x, y = data()
    with pytest.raises(ValueError, match=r"'last'.*output layer is never recycled.*pairs=\{'last'"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[DeadReluMonitor(str(tmp_path), probe_data=x, recycle=ReDo())])


def test_conv_flatten_dense_channel_rows_channels_last(tmp_path):
    x = np.random.default_rng(0).uniform(0, 1, (16, 2, 2, 1)).astype("float32")
    y = np.zeros((16, 2), "float32")
    keras.utils.set_random_seed(2)
    inputs = keras.Input((2, 2, 1))
    conv = keras.layers.Conv2D(3, 1, activation="relu", name="conv")(inputs)
    outputs = keras.layers.Dense(2, name="out")(keras.layers.Flatten()(conv))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    kill(model, "conv", [1])
    revive(model, "conv", [0, 2])
    neighbours = recycling.find_neighbours(model, "conv", model.get_layer("conv"))
    plan = recycling.plan(neighbours, 3)
    # (h*W + w)*C + c with H = W = 2, C = 3.
    np.testing.assert_array_equal(plan.rows_per_unit[1], [1, 4, 7, 10])
    before, after = Snapshot(x), Snapshot(x)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0,
              callbacks=[before, DeadReluMonitor(str(tmp_path), probe_data=x, recycle=ReDo()), after])
    b, a = before.taken["weights"], after.taken["weights"]
    expected = b["out/kernel"].copy()
    expected[[1, 4, 7, 10], :] = 0
    np.testing.assert_array_equal(a["out/kernel"], expected)
    assert np.all(a["conv/kernel"][..., 1] != b["conv/kernel"][..., 1])
    np.testing.assert_array_equal(a["conv/kernel"][..., [0, 2]], b["conv/kernel"][..., [0, 2]])
    np.testing.assert_allclose(after.taken["output"], before.taken["output"], atol=1e-6)


def test_batch_norm_between_producer_and_relu_is_reset(tmp_path):
    x, y = data()
    keras.utils.set_random_seed(4)
    inputs = keras.Input((3,))
    z = keras.layers.Dense(4, name="dense")(inputs)
    z = keras.layers.BatchNormalization(name="bn")(z)
    z = keras.layers.ReLU(name="relu")(z)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(z))
    model.compile(optimizer="adam", loss="mse")
    revive(model, "dense", [0, 1, 2])
    bn = model.get_layer("bn")
    for weight, value in ((bn.gamma, 2.0), (bn.beta, 0.5), (bn.moving_mean, 0.3), (bn.moving_variance, 4.0)):
        weight.assign(np.full(4, value, "float32"))
    beta = numpy_of(bn.beta)
    beta[3] = -100.0  # unit 3 of the ReLU is dead in inference mode
    bn.beta.assign(beta)
    after = Snapshot(x)
    model.fit(x, y, epochs=1, batch_size=64, verbose=0,
              callbacks=[DeadReluMonitor(str(tmp_path), probe_data=x, recycle=ReDo()), after])
    a = after.taken["weights"]
    np.testing.assert_array_equal(a["bn/gamma"], [2, 2, 2, 1])
    np.testing.assert_array_equal(a["bn/beta"], [0.5, 0.5, 0.5, 0])
    np.testing.assert_array_equal(a["bn/moving_mean"], np.array([0.3, 0.3, 0.3, 0], "float32"))
    np.testing.assert_array_equal(a["bn/moving_variance"], [4, 4, 4, 1])
    assert np.all(a["out/kernel"][3] == 0)
    records = read_records(str(tmp_path))
    np.testing.assert_array_equal(records[("train", "relu/recycled")][0][1].zeros, [0, 0, 0, 1])


def test_counting_record_after_recycling_counts_only_later_batches_and_unit_fires_again(tmp_path):
    x, y = data(rows=48)
    model = dense_model(lr=0.0)
    kill(model, "hidden", [1])
    revive(model, "hidden", [0, 2, 3])
    # Positive fresh weights: a recycled unit fires on any input in (0, 1).
    monitor = DeadReluMonitor(str(tmp_path), recycle=ReDo(initializer=keras.initializers.RandomUniform(0.1, 1.0)))
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0, callbacks=[monitor])
    records = read_records(str(tmp_path))
    steps = dict(records[("train", "hidden")])
    assert steps[0].count == 16 and steps[0].zeros[1] == 16  # the first batch: dead
    # The epoch's record judges only the two batches after the recycling, where unit 1 fires.
    assert steps[1].count == 32
    assert steps[1].zeros[1] == 0
    assert [s for s, _ in records[("train", "hidden/recycled")]] == [0]
    np.testing.assert_array_equal(records[("train", "hidden/recycled")][0][1].zeros, [0, 1, 0, 0])


def test_second_recycling_draws_new_weights_with_a_seedless_initializer(tmp_path):
    x, y = data()
    keras.utils.set_random_seed(5)
    inputs = keras.Input((3,))
    # A seedless initializer object returns the same values at every call.
    hidden = keras.layers.Dense(4, activation="relu", name="hidden",
                                kernel_initializer=keras.initializers.GlorotUniform())(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden))
    model.compile(optimizer=keras.optimizers.Adam(0.0), loss="mse")
    built = numpy_of(model.get_layer("hidden").kernel)
    kill(model, "hidden", [0])
    revive(model, "hidden", [1, 2, 3])
    alive = numpy_of(model.get_layer("hidden").kernel)[:, 1:]

    class KillAgain(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if BACKEND == "jax":
                self.model.jax_state_sync()
            kill(self.model, "hidden", [0])

    first, second = Snapshot(x), Snapshot(x, "on_epoch_end")
    # Keras calls callbacks in list order: the killer runs before the monitor's epoch-end record.
    model.fit(x, y, epochs=1, batch_size=64, verbose=0,
              callbacks=[KillAgain(), DeadReluMonitor(str(tmp_path), probe_data=x, recycle=ReDo()), first, second])
    draw_1 = first.taken["weights"]["hidden/kernel"][:, 0]
    draw_2 = second.taken["weights"]["hidden/kernel"][:, 0]
    assert not np.allclose(draw_1, built[:, 0])  # not the build-time weights replayed
    assert not np.allclose(draw_2, built[:, 0])
    assert not np.allclose(draw_2, draw_1)
    np.testing.assert_array_equal(first.taken["weights"]["hidden/kernel"][:, 1:], alive)
    records = read_records(str(tmp_path))
    assert [s for s, _ in records[("train", "hidden/recycled")]] == [0, 1]


def test_undeclared_graph_names_the_layer_and_pairs_fix_it(tmp_path):
    x, y = data()
    keras.utils.set_random_seed(6)
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inputs)
    a = keras.layers.Dense(2, name="a")(hidden)
    b = keras.layers.Dense(2, name="b")(hidden)
    model = keras.Model(inputs, keras.layers.Add()([a, b]))
    model.compile(optimizer=keras.optimizers.Adam(0.0), loss="mse")
    with pytest.raises(ValueError, match=r"'hidden'.*pairs=\{'hidden': \('<producer>', '<consumer>'\)\}"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[DeadReluMonitor(str(tmp_path / "a"), probe_data=x, recycle=ReDo())])
    kill(model, "hidden", [2])
    monitor = DeadReluMonitor(str(tmp_path / "b"), probe_data=x, recycle=ReDo(pairs={"hidden": ("hidden", "a")}))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    assert np.all(numpy_of(model.get_layer("a").kernel)[2] == 0)


def test_redo_arguments_are_checked():
    with pytest.raises(ValueError, match="tau"):
        ReDo(tau=-1)
    with pytest.raises(ValueError, match="every"):
        ReDo(every=0)
    with pytest.raises(ValueError, match="recycle"):
        DeadReluMonitor("/tmp/unused_redo", recycle="yes")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends(backend, tmp_path):
    pytest.importorskip(backend)
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
         os.path.join(REPO, "tests", "test_recycle_keras.py"), "--basetemp", str(tmp_path)],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\b[1-9]\d* passed", result.stdout) and not re.search(r"\b\d+ failed", result.stdout)
