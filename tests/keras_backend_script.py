"""Trains one small model with DeadReluMonitor on the Keras backend named by KERAS_BACKEND.

Run by tests/test_keras_backends.py, one process per backend (Keras reads
KERAS_BACKEND once, at import). Usage: ``python keras_backend_script.py OUTDIR``.

Every backend gets the same weights (made with numpy) and data, the learning
rate is 0 so the weights never move, and the monitor writes into OUTDIR:

* ``counting``: counting during training, 37 rows in batches of 8 (a partial
  last batch of 5), 2 epochs, with ``warn_above``;
* ``every2``: counting with ``update_freq=2``;
* ``probe``: a probe with targets (activation and gradient records);
* ``stop``: ``stop_above`` with a probe, 5 epochs asked for;
* ``interrupted``: counting, with another callback raising KeyboardInterrupt
  in the second epoch; the report says what the model looked like afterwards.

With ``--block-tensorflow``, ``import tensorflow`` fails in this process, and
the script checks at the end that TensorFlow was never imported. It writes
``OUTDIR/report.json``: the backend, the epochs each fit ran, the warnings
logged, and the modules of TensorFlow that were imported.
"""

import importlib.abc
import json
import logging
import os
import sys


def _is_tensorflow(name):
    return name == "tensorflow" or name.startswith("tensorflow.")


class _WithoutTensorFlow(importlib.abc.MetaPathFinder):
    """Wraps an import finder so that it does not find TensorFlow, as where it is not installed.

    ``importlib.util.find_spec("tensorflow")`` then returns None (PyTorch asks
    it that way) and ``import tensorflow`` raises ModuleNotFoundError.
    """

    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if _is_tensorflow(name):
            return None
        return self.finder.find_spec(name, path, target)

    def invalidate_caches(self):
        getattr(self.finder, "invalidate_caches", lambda: None)()


def block_tensorflow():
    sys.meta_path[:] = [_WithoutTensorFlow(f) if hasattr(f, "find_spec") else f for f in sys.meta_path]


def weights(rng):
    """The model's weights; unit 0 of layer ``relu`` is dead on every input (bias -100)."""
    b2 = rng.normal(size=4).astype("float32")
    b2[0] = -100.0
    return [
        rng.normal(size=(5, 6)).astype("float32"), rng.normal(size=6).astype("float32"),
        rng.normal(size=(6, 4)).astype("float32"), b2,
        rng.normal(size=(4, 1)).astype("float32"), rng.normal(size=1).astype("float32"),
    ]


def main():
    outdir = sys.argv[1]
    if "--block-tensorflow" in sys.argv:
        block_tensorflow()
    import numpy as np
    import keras

    from tensorboard_plugin_deadrelu.keras import DeadReluMonitor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(37, 5)).astype("float32")
    y = rng.normal(size=(37, 1)).astype("float32")
    initial = weights(np.random.default_rng(1))
    np.savez(os.path.join(outdir, "inputs.npz"), x, y, *initial)

    warnings = []

    class Collect(logging.Handler):
        def emit(self, record):
            warnings.append(record.getMessage())

    logging.getLogger("tensorboard_plugin_deadrelu").addHandler(Collect())

    def model():
        m = keras.Sequential(
            [
                keras.Input((5,)),
                keras.layers.Dense(6, activation="relu", name="hidden"),
                keras.layers.Dense(4, name="linear"),
                keras.layers.ReLU(name="relu"),
                keras.layers.Dense(1, name="out"),
            ]
        )
        m.set_weights(initial)
        m.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
        return m

    def fit(name, epochs=2, **kwargs):
        history = model().fit(
            x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0,
            callbacks=[DeadReluMonitor(os.path.join(outdir, name), **kwargs)],
        )
        return len(history.epoch)

    report = {"backend": keras.backend.backend(), "epochs": {}}
    report["epochs"]["counting"] = fit("counting", warn_above=0.2)
    report["epochs"]["every2"] = fit("every2", epochs=1, update_freq=2)
    report["epochs"]["probe"] = fit("probe", probe_data=(x[:30], y[:30]))
    report["epochs"]["stop"] = fit("stop", epochs=5, probe_data=x, layers=["relu"], stop_above=0.2)
    report["interrupted"] = interrupted(model(), x, y, DeadReluMonitor(os.path.join(outdir, "interrupted")))
    report["warnings"] = warnings
    report["tensorflow_modules"] = sorted(m for m in sys.modules if m == "tensorflow" or m.startswith("tensorflow."))
    with open(os.path.join(outdir, "report.json"), "w") as f:
        json.dump(report, f)


def interrupted(model, x, y, monitor):
    """Interrupts a counting fit() in its second epoch; returns what was left behind."""
    import keras

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch == 1:
                raise KeyboardInterrupt

    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    own_train_function = model.train_function
    try:
        model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[monitor, Interrupt()])
    except KeyboardInterrupt:
        pass
    left = {
        "own_train_function": model.train_function is own_train_function,
        "layers_unwrapped": all("call" not in vars(layer) for layer in model.layers),
        "variables": len(model.non_trainable_variables),
    }
    counted = [s["count"] for s in monitor._counter.result()]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    left["plain_fit_counted"] = [s["count"] for s in monitor._counter.result()] != counted
    return left


if __name__ == "__main__":
    main()
