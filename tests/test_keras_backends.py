"""DeadReluMonitor on every Keras 3 backend: TensorFlow, JAX and PyTorch.

Keras picks its backend once per process, so each backend trains in a
subprocess (tests/keras_backend_script.py) with the same weights and data and
a learning rate of 0; the records it writes are read back here and checked
against numpy: counting during training (the partial last batch included),
``update_freq``, a probe with gradient records, the ``dead_fraction`` scalars,
``warn_above`` and ``stop_above``. JAX and PyTorch run with ``import
tensorflow`` blocked, which proves the monitor needs no TensorFlow there.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from tensorboard.util import tensor_util

from tests.eventfiles import read_events, read_records
from tests.oracle import assert_record

pytestmark = pytest.mark.slow  # starts processes: see tests/conftest.py

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "tests", "keras_backend_script.py")
FRAMEWORK = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def run_script(backend, outdir):
    pytest.importorskip(FRAMEWORK[backend])
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
    args = [sys.executable, SCRIPT, str(outdir)] + ([] if backend == "tensorflow" else ["--block-tensorflow"])
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    with open(os.path.join(outdir, "report.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module", params=["tensorflow", "jax", "torch"])
def trained(request, tmp_path_factory):
    outdir = tmp_path_factory.mktemp(request.param)
    return request.param, str(outdir), run_script(request.param, outdir)


def truth(outdir):
    """The layers' activations and the gradients of the summed loss w.r.t. their pre-activations, in float64."""
    inputs = np.load(os.path.join(outdir, "inputs.npz"))
    x, y, k1, b1, k2, b2, k3, b3 = (inputs["arr_%d" % i].astype(np.float64) for i in range(8))
    z1 = x @ k1 + b1
    hidden = np.maximum(z1, 0)
    z2 = hidden @ k2 + b2  # the input of the ReLU layer
    relu = np.maximum(z2, 0)
    out = relu @ k3 + b3
    d_z2 = (2 * (out - y) @ k3.T) * (z2 > 0)  # loss: the sum over examples of (out - y)^2
    d_z1 = (d_z2 @ k2.T) * (z1 > 0)
    return {"hidden": hidden, "relu": relu}, {"hidden": d_z1, "relu": d_z2}


def records(outdir, name):
    return {tag: series for (run, tag), series in read_records(os.path.join(outdir, name)).items() if run == "train"}


def test_counting_during_training_counts_every_batch_exactly(trained):
    backend, outdir, report = trained
    activations, _ = truth(outdir)
    found = records(outdir, "counting")
    assert set(found) == {"hidden", "relu"}, backend
    for tag, series in found.items():
        assert [step for step, _ in series] == [0, 1, 2]
        assert_record(series[0][1], activations[tag][:8])  # step 0: the first batch alone
        for _, record in series[1:]:
            assert_record(record, activations[tag])  # all 37 rows, the partial batch of 5 included
    dead = np.all(activations["relu"] == 0, axis=0)
    assert dead[0] and not dead.all()  # the fixture has a dead unit and living ones
    assert found["relu"][-1][1].dead.tolist() == dead.tolist()


def test_update_freq_in_batches(trained):
    backend, outdir, report = trained
    activations, _ = truth(outdir)
    rows = {0: slice(0, 8), 2: slice(0, 16), 4: slice(16, 32), 5: slice(32, 37)}  # the last: when fit() ends
    for tag, series in records(outdir, "every2").items():
        assert [step for step, _ in series] == [0, 2, 4, 5]
        for step, record in series:
            assert_record(record, activations[tag][rows[step]])


def test_probe_records_activations_and_gradients(trained):
    backend, outdir, report = trained
    activations, gradients = truth(outdir)
    found = records(outdir, "probe")
    assert set(found) == {"hidden", "relu", "hidden/gradients", "relu/gradients"}
    for tag in ("hidden", "relu"):
        assert [step for step, _ in found[tag]] == [0, 1, 2]  # step 0: the probe before training
        for _, record in found[tag]:
            assert_record(record, activations[tag][:30])
        for _, record in found[tag + "/gradients"]:
            assert_record(record, gradients[tag][:30])
    # The dead unit gets exactly zero gradient on every probe row.
    assert found["relu/gradients"][-1][1].zeros[0] == 30


def test_dead_fraction_scalars_and_early_warning(trained):
    backend, outdir, report = trained
    activations, _ = truth(outdir)
    share = {tag: np.mean(np.all(values == 0, axis=0)) for tag, values in activations.items()}
    first_batch_share = {tag: np.mean(np.all(values[:8] == 0, axis=0)) for tag, values in activations.items()}
    scalars = {}
    for run, event in read_events(os.path.join(outdir, "counting")):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "scalars":
                scalars.setdefault((run, value.tag), []).append((event.step, float(tensor_util.make_ndarray(value.tensor))))
    assert scalars == {
        ("train", "deadrelu/%s/dead_fraction" % tag): [(0, first_batch_share[tag]), (1, share[tag]), (2, share[tag])]
        for tag in ("hidden", "relu")
    }
    assert share["hidden"] < 0.2 < share["relu"] == first_batch_share["relu"]
    assert report["epochs"] == {"counting": 2, "every2": 1, "probe": 2, "stop": 1}
    # Once when it crosses warn_above (it stays above); for stop_above at each
    # record of the fit it stops: the probe before training and after epoch 1.
    warned, *stopped = [message for message in report["warnings"] if "'relu'" in message]
    assert len(stopped) == 2
    dead = int(share["relu"] * 4)
    assert "layer 'relu' has %.1f%% dead units (%d of 4) at step 0, more than warn_above=0.2" % (100 * share["relu"], dead) in warned
    assert all("stop_above=0.2; stopping training" in message for message in stopped)


def test_an_interrupted_fit_leaves_the_model_as_it_was(trained):
    backend, outdir, report = trained
    assert report["interrupted"] == {
        "own_train_function": True, "layers_unwrapped": True, "variables": 0, "plain_fit_counted": False,
    }
    # The first epoch's record is on disk; the interrupted second one never was.
    assert [step for step, _ in records(outdir, "interrupted")["hidden"]] == [0, 1]


def test_jax_and_torch_never_import_tensorflow(trained):
    backend, outdir, report = trained
    assert report["backend"] == backend
    if backend != "tensorflow":
        assert report["tensorflow_modules"] == []


def test_a_backend_it_cannot_serve_is_named():
    env = dict(os.environ, KERAS_BACKEND="numpy", PYTHONPATH=REPO)
    code = "from tensorboard_plugin_deadrelu.keras import DeadReluMonitor\nDeadReluMonitor('logs')"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "ValueError: DeadReluMonitor does not support the Keras backend 'numpy'" in result.stderr


def test_exact_counts_past_two_to_the_32_in_uint32_pairs():
    keras = pytest.importorskip("keras")
    from tensorboard_plugin_deadrelu.keras.counting import add_to_pair, kahan_add, pair_to_int

    pair = np.array([[2**32 - 5, 7], [0, 1]], np.uint32)  # [low words, high words] of two counts
    for _ in range(3):
        pair = keras.ops.convert_to_numpy(add_to_pair(pair, np.array([3, 2**31], np.uint32)))
    np.testing.assert_array_equal(pair_to_int(pair), [2**32 - 5 + 9, 2**32 + 7 + 3 * 2**31])
    # Kahan: adding 1.0 to 2**24 is lost in plain float32, kept by the compensation.
    total = np.array([[2.0**24], [0.0]], np.float32)
    for _ in range(10):
        total = keras.ops.convert_to_numpy(kahan_add(total, np.ones(1, np.float32)))
    assert float(total[0, 0]) - float(total[1, 0]) == 2**24 + 10
    assert np.float32(2**24) + np.float32(1) == np.float32(2**24)  # what the compensation makes up for
