"""DeadReluMonitor under tf.distribute.MirroredStrategy on two logical CPU devices.

Logical devices must be configured before TensorFlow initialises, so the
training runs in a subprocess; it saves the weights, and this test computes
the ground truth from them with numpy and reads the records back."""

import pytest
import os
import subprocess
import sys
import textwrap

import numpy as np

from tests.eventfiles import read_records

pytestmark = pytest.mark.slow  # starts processes: see tests/conftest.py

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TRAIN = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tensorboard_plugin_deadrelu.keras import DeadReluMonitor

    logdir = sys.argv[1]
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras.Sequential([
            keras.Input((5,)),
            keras.layers.Dense(6, activation="relu", name="hidden"),
            keras.layers.Dense(4, name="linear"),
            keras.layers.ReLU(name="relu"),
            keras.layers.Dense(1),
        ])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    data = np.load(logdir + "/data.npz")
    model.fit(data["x"], data["y"], batch_size=8, epochs=2, verbose=0,
              callbacks=[DeadReluMonitor(logdir + "/run")])
    np.savez(logdir + "/weights.npz", *model.get_weights())
    """
)


def test_counts_equal_numpy_under_mirrored_strategy(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(37, 5)).astype(np.float32)  # a partial last global batch of 5
    np.savez(tmp_path / "data.npz", x=x, y=rng.normal(size=(37, 1)).astype(np.float32))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    result = subprocess.run(
        [sys.executable, "-c", TRAIN, str(tmp_path)], env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr[-3000:]

    weights = np.load(tmp_path / "weights.npz")
    k1, b1, k2, b2 = (weights["arr_%d" % i] for i in range(4))
    hidden = np.maximum(x @ k1 + b1, 0)
    truth = {"hidden": hidden, "relu": np.maximum(hidden @ k2 + b2, 0)}
    records = read_records(str(tmp_path / "run"))
    assert set(records) == {("train", "hidden"), ("train", "relu")}  # the monitor writes into <log_dir>/train
    for (_, tag), series in records.items():
        assert [step for step, _ in series] == [0, 1, 2]  # epochs completed
        assert series[0][1].count == 8  # the first global batch, both replicas
        for _, record in series[1:]:
            assert record.count == 37
            np.testing.assert_array_equal(record.zeros, np.count_nonzero(truth[tag] == 0, axis=0))
            np.testing.assert_allclose(record.abs_sum, np.abs(truth[tag]).sum(axis=0), rtol=1e-4)
