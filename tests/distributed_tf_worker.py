"""One TensorFlow worker of a MultiWorkerMirroredStrategy job; run by
tests/test_distributed_tf.py, one process per worker, with TF_CONFIG set.

Usage: python distributed_tf_worker.py WORKDIR

WORKDIR/inputs.npz holds the model's weights, the training data and the probe;
every worker trains the same fixed-weight model (learning rate 0) on the same
dataset, which MultiWorkerMirroredStrategy shards between the workers, through
four scenarios, each writing into its own folder of WORKDIR/logs:

* ``counting``: DeadReluMonitor counting during training, 2 epochs;
* ``probe``: DeadReluMonitor on a probe with targets (records and gradient
  records), 2 epochs, with warn_above below the share of dead units;
* ``stop``: counting with warn_above/stop_above below the share of dead units;
* ``accumulator``: summary.Accumulator in a custom loop (strategy.run),
  written with distributed.tf_summary_writer, then once more with a plain
  file writer into WORKDIR/own_writer_<task id> on every worker.

Each worker then writes WORKDIR/report_<task id>.json (what it saw: batches
run, warnings logged, Accumulator.write's result, its pid).
"""

import json
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# Collective ops must be configured before TensorFlow runs anything.
STRATEGY = tf.distribute.MultiWorkerMirroredStrategy()

import keras  # noqa: E402

from tensorboard_plugin_deadrelu.writing import distributed
from tensorboard_plugin_deadrelu.writing import summary  # noqa: E402
from tensorboard_plugin_deadrelu.keras import DeadReluMonitor  # noqa: E402

GLOBAL_BATCH = 16
EPOCHS = 2


def patch_keras_fit_for_multi_worker():
    """Makes Keras 3's fit() run under MultiWorkerMirroredStrategy (TensorFlow backend).

    Without it fit() fails before the first batch with "Attempt to convert a
    value (PerReplica...)" (keras-team/keras#20585, tensorflow/tensorflow#72388):

    * ``TensorFlowTrainer._maybe_symbolic_build`` hands the first batch, an
      ``(x, y)`` tuple of PerReplica values, to ``strategy.reduce``, which
      takes one value; building only needs the batch's structure and shapes,
      so the first local replica's batch is given instead;
    * ``reduce_per_replica`` averages the per-replica logs over ``axis=0``,
      which a scalar loss does not have; ``axis=None`` averages over replicas.

    The README's distributed-training section shows the same code.
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    original_build = trainer.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = trainer.reduce_per_replica

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None and self._distribute_strategy is not None:
            for _, _, batches in iterator:
                local = self.distribute_strategy.experimental_local_results
                data_batch = tree.map_structure(lambda v: local(v)[0], next(batches))
                break
            iterator = None
        return original_build(self, iterator=iterator, data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original_reduce(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica


class _Records(logging.Handler):
    """Keeps the messages of the package's log records."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


class _BatchCount(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def build_model(weights):
    """Dense(6, relu) 'hidden' -> Dense(4) 'linear' -> ReLU 'relu' -> Dense(1), with ``weights``, lr 0."""
    with STRATEGY.scope():
        model = keras.Sequential(
            [
                keras.Input((weights[0].shape[0],)),
                keras.layers.Dense(weights[0].shape[1], activation="relu", name="hidden"),
                keras.layers.Dense(weights[2].shape[1], name="linear"),
                keras.layers.ReLU(name="relu"),
                keras.layers.Dense(weights[4].shape[1], name="out"),
            ]
        )
        model.set_weights(weights)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    return model


def fit(weights, dataset, monitor):
    """Trains a fresh model with ``monitor``; returns the number of batches this worker ran."""
    batches = _BatchCount()
    build_model(weights).fit(dataset, epochs=EPOCHS, verbose=0, callbacks=[monitor, batches])
    return batches.batches


def accumulator_loop(inputs, logdir, own_dir):
    """The README's custom loop under the strategy, for 3 epochs.

    Epochs 1 and 2 are written with the README's writer into ``logdir``;
    epoch 3 with a plain file writer into ``own_dir`` on every worker, as a
    script that ignores who is the chief would. Returns what
    Accumulator.write returned per epoch.
    """
    k1, b1 = inputs["k1"], inputs["b1"]
    with STRATEGY.scope():
        accumulator = summary.Accumulator(units={"hidden": k1.shape[1]})
    dataset = STRATEGY.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(inputs["x"]).batch(GLOBAL_BATCH)
    )

    @tf.function
    def train_step(batch):
        def replica_step(x):
            accumulator.update("hidden", tf.nn.relu(x @ k1 + b1))

        STRATEGY.run(replica_step, args=(batch,))

    written = []
    for epoch, writer in enumerate(
        [distributed.tf_summary_writer(logdir, STRATEGY)] * EPOCHS + [tf.summary.create_file_writer(own_dir)]
    ):
        for batch in dataset:
            train_step(batch)
        with writer.as_default():
            written.append(bool(accumulator.write(step=epoch + 1)))
        writer.flush()
    return written


def main():
    workdir = sys.argv[1]
    patch_keras_fit_for_multi_worker()
    inputs = np.load(os.path.join(workdir, "inputs.npz"))
    weights = [inputs[name] for name in ("k1", "b1", "k2", "b2", "k3", "b3")]
    dataset = tf.data.Dataset.from_tensor_slices((inputs["x"], inputs["y"])).batch(GLOBAL_BATCH)
    logs = os.path.join(workdir, "logs")
    warnings = _Records()
    logging.getLogger("tensorboard_plugin_deadrelu").addHandler(warnings)

    report = {"task_id": STRATEGY.cluster_resolver.task_id, "pid": os.getpid()}
    (first_batch,) = STRATEGY.experimental_local_results(next(iter(STRATEGY.experimental_distribute_dataset(dataset)))[0])
    report["first_batch_local_x"] = first_batch.numpy().tolist()
    report["counting_batches"] = fit(weights, dataset, DeadReluMonitor(os.path.join(logs, "counting")))
    probe = (inputs["probe_x"], inputs["probe_y"])
    probing = DeadReluMonitor(os.path.join(logs, "probe"), probe_data=probe, warn_above=0.1)
    report["probe_batches"] = fit(weights, dataset, probing)
    report["probe_warnings"], warnings.messages = warnings.messages, []
    stop = DeadReluMonitor(os.path.join(logs, "stop"), warn_above=0.1, stop_above=0.1)
    report["stop_batches"] = fit(weights, dataset, stop)
    report["stop_warnings"] = warnings.messages
    own_dir = os.path.join(workdir, "own_writer_%d" % report["task_id"])
    report["accumulator_written"] = accumulator_loop(inputs, os.path.join(logs, "accumulator"), own_dir)
    with open(os.path.join(workdir, "report_%d.json" % report["task_id"]), "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()
