"""Trains the variants into a log folder, one run each, safely across interruptions.

Each variant trains into ``<logdir>/.incomplete/<experiment>/<variant>`` and is
renamed to ``<logdir>/<experiment>/<variant>`` only when its training is done,
so a run folder under its final name is always complete. A restart removes
``.incomplete`` (what an interrupted run left) and skips the runs that are
already complete, after checking that they were made with the same settings.
"""

import dataclasses
import json
import os
import shutil
import sys
import time

from experiments import data, redo, results, variants

INCOMPLETE_DIR = ".incomplete"
RUN_INFO_FILE = results.RUN_INFO_FILE


def _keras_and_tf():
    # Imported here so that `--help` and the result table work without TensorFlow.
    import keras
    import tensorflow as tf

    return keras, tf


def run_settings(variant, scale, seed, learning_rate):
    """What a run was made with; stored as ``run.json`` in the run folder and
    compared on restart. Training a run again with other settings needs
    another log folder.

    ``seed`` draws the data; the model's seed (initial weights, batch order,
    dropout masks) is the variant's ``model_seed`` or else ``seed`` too.
    ``val_target_variance`` is the loss of the best constant prediction on
    the validation rows, against which the result table judges a stalled fit.
    """
    samples = scale.samples * variant.data_factor
    train_rows = data.train_rows(samples)
    target = data.check_target(variant.target)
    settings = {
        "run": variant.run,
        "variant": dataclasses.asdict(variant),
        "samples": samples,
        "train_rows": train_rows,
        "epochs": scale.epochs * variant.epoch_factor,
        "batch_size": scale.batch_size,
        "seed": seed,
        "model_seed": seed if variant.model_seed is None else variant.model_seed,
        "learning_rate": learning_rate if variant.learning_rate is None else variant.learning_rate,
        "optimizer": "adam",
        "loss": "mse",
        "target": data.TARGETS[target].formula,
        "standardize": variant.standardize,
        "val_target_variance": data.validation_variance(samples, seed, target),
    }
    if variant.recycle_tau is None:
        # Runs made before ReDo variants existed keep matching their run.json.
        del settings["variant"]["recycle_tau"]
    # As read back from run.json (tuples become lists), so the two compare equal.
    return json.loads(json.dumps(settings))


def _make_loss_recorder_callback(keras):
    """A callback keeping ``(step, {"epoch_loss": .., "epoch_val_loss": ..})`` per epoch.

    The step is the number of epochs completed, the step the Dead ReLU monitor
    gives its records with ``update_freq="epoch"``, so that both line up.
    """

    class LossRecorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs = []

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            values = {"epoch_" + key: float(logs[key]) for key in ("loss", "val_loss") if key in logs}
            self.epochs.append((epoch + 1, values))

    return LossRecorder()


def write_loss_scalars(tf, folder, epochs):
    """Writes the ``epoch_loss`` and ``epoch_val_loss`` scalars of ``epochs``
    (as a loss recorder kept them) into ``folder``."""
    writer = tf.summary.create_file_writer(folder)
    with writer.as_default():
        for step, values in epochs:
            for tag, value in values.items():
                tf.summary.scalar(tag, value, step=step)
    writer.close()


def _make_progress_callback(keras, run, position, total, out):
    """A callback printing one line per epoch: which run, which epoch, the losses."""

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self._start = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            print(
                "[%d/%d] %s epoch %d/%d loss %.5f val_loss %.5f (%.0f s)"
                % (
                    position, total, run, epoch + 1, self.params["epochs"],
                    logs.get("loss", float("nan")), logs.get("val_loss", float("nan")),
                    time.monotonic() - self._start,
                ),
                file=out,
                flush=True,
            )

    return Progress()


def train_variant(variant, settings, run_dir, position=1, total=1, out=sys.stdout):
    """Trains one variant and writes its event files into ``run_dir``.

    Writes, per hidden layer, Dead ReLU records from a probe
    of the whole validation set: a record of the initial weights at step 0 and
    one after every epoch (step = epochs completed). Each probe records the
    layer's activations (tag ``<layer>``) and, from the validation targets, the
    gradient of the loss with respect to each unit's pre-activation (tag
    ``<layer>/gradients``). After training, writes the loss scalars into the
    folder that holds the monitor's event files.
    """
    keras, tf = _keras_and_tf()
    from experiments import models
    from tensorboard_plugin_deadrelu.keras import DeadReluMonitor, ReDo

    dataset = data.make_dataset(
        settings["samples"], settings["seed"], variant.target, standardize=settings["standardize"]
    )
    keras.utils.set_random_seed(settings["model_seed"])
    model, hidden = models.build_model(variant, settings["learning_rate"])
    monitor = DeadReluMonitor(
        run_dir,
        # The variant's folder is its run (not its "train" subfolder): the
        # loss scalars go beside the records either way (see below).
        run=None,
        # Named explicitly: tanh, sigmoid, leaky ReLU and SELU are not found
        # by the monitor's ReLU-family search.
        layers=hidden,
        # With its targets, the probe also yields gradient records
        # (<layer>/gradients): each unit's d(loss)/d(pre-activation).
        probe_data=(dataset.x_val, dataset.y_val),
        probe_size=len(dataset.x_val),
        # ReDo variants: the units each epoch's probe found dead (or dormant) are recycled.
        recycle=None if variant.recycle_tau is None else ReDo(tau=variant.recycle_tau, seed=settings["model_seed"]),
    )
    losses = _make_loss_recorder_callback(keras)
    model.fit(
        dataset.x_train,
        dataset.y_train,
        validation_data=(dataset.x_val, dataset.y_val),
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        callbacks=[monitor, losses, _make_progress_callback(keras, variant.run, position, total, out)],
        verbose=0,
    )
    # The losses go where the monitor put its records (the run folder, or a
    # subfolder of it such as "train"), so that the variant stays one run in
    # TensorBoard, with its loss and its dead units side by side.
    write_loss_scalars(tf, results.records_folder(run_dir), losses.epochs)


def _read_settings(run_dir):
    """The settings in a run folder's ``run.json``, or None if it has none."""
    try:
        with open(os.path.join(run_dir, RUN_INFO_FILE), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def run(logdir, only=None, scale=variants.QUICK, seed=variants.SEED,
        learning_rate=variants.LEARNING_RATE, out=sys.stdout, nonstationary=None):
    """Runs the experiments into ``logdir`` and writes ``results.md``/``results.csv`` there.

    Args:
      logdir: The log folder; each variant becomes the run
        ``<logdir>/<experiment>/<variant>``.
      only: None for every variant, or a list of experiment names and
        ``experiment/variant`` run names (see :func:`variants.names`).
      scale: A :class:`variants.Scale` (``variants.QUICK``, ``variants.FULL``
        or your own, e.g. a tiny one for tests); its ``seeds`` is the number
        of model seeds per seed sweep.
      seed: Seed of the data and of every model's initial weights.
      learning_rate: Adam's learning rate (where the variant sets none).
      out: Where progress lines go.
      nonstationary: The sizes (``redo.NonStationary``) of the
        non-stationary task, trained when ``only`` is empty or names
        ``nonstationary``; default ``redo.QUICK``.

    Returns:
      The path of ``results.md``.

    Raises:
      ValueError: an argument is invalid, or ``logdir`` already holds one of
        the runs made with other settings (or a folder that is not a complete
        run) — use another log folder or delete that run.
    """
    if not isinstance(logdir, (str, os.PathLike)) or not os.fspath(logdir):
        raise ValueError("logdir must be a non-empty path, got %r" % (logdir,))
    if not isinstance(scale, variants.Scale):
        raise ValueError("scale must be a variants.Scale, got %r" % (scale,))
    logdir = os.fspath(logdir)
    if os.path.exists(logdir) and not os.path.isdir(logdir):
        raise ValueError("logdir %r exists and is not a directory" % logdir)
    chosen = variants.select(only, scale.seeds, scale.redo_seeds)
    planned = [(v, run_settings(v, scale, seed, learning_rate)) for v in chosen]

    # Check every existing run before training anything, so that a mismatch
    # is reported at once rather than after an hour of training.
    to_train = []
    for variant, settings in planned:
        final_dir = os.path.join(logdir, variant.run)
        if os.path.exists(final_dir):
            found = _read_settings(final_dir)
            if found != settings:
                raise ValueError(
                    "logdir %r already holds run %r made with other settings (or not a "
                    "complete run of these experiments); use another --logdir or delete %r"
                    % (logdir, variant.run, final_dir)
                )
            print("%s: complete, skipped" % variant.run, file=out, flush=True)
        else:
            to_train.append((variant, settings))

    incomplete_root = os.path.join(logdir, INCOMPLETE_DIR)
    # What an interrupted run left behind; never read, always retrained.
    shutil.rmtree(incomplete_root, ignore_errors=True)
    for position, (variant, settings) in enumerate(to_train, start=1):
        work_dir = os.path.join(incomplete_root, variant.run)
        os.makedirs(work_dir)
        train_variant(variant, settings, work_dir, position, len(to_train), out)
        with open(os.path.join(work_dir, RUN_INFO_FILE), "w", encoding="utf-8") as f:
            json.dump(settings, f, indent=1, sort_keys=True)
        final_dir = os.path.join(logdir, variant.run)
        os.makedirs(os.path.dirname(final_dir), exist_ok=True)
        os.replace(work_dir, final_dir)
    shutil.rmtree(incomplete_root, ignore_errors=True)
    if not only or redo.NONSTATIONARY_EXPERIMENT in (only if not isinstance(only, str) else [only]):
        redo.run_nonstationary(logdir, nonstationary or redo.QUICK, out)

    return results.write_results(logdir)
