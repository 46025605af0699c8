"""Keras 3 callback that records Dead ReLU statistics while a model trains.

:class:`DeadReluMonitor` finds a model's ReLU-family layers (or takes the ones
you name) and writes, per layer, one Dead ReLU record per epoch (or every N
batches) into ``<log_dir>/train``, plus a ``deadrelu/<layer>/dead_fraction``
scalar for the Scalars tab, on the TensorFlow, JAX and PyTorch backends. It
counts in one of two ways:

* **during training** (default): every training batch's outputs of the
  monitored layers are reduced inside the backend's own train step, with no
  second forward pass (``counting``). The counting train function is lent to
  ``fit()`` one batch at a time and puts fit()'s own back as soon as it is
  called, and the layers' calls are wrapped only while a step runs or is
  traced (``taps``), so only training batches count and nothing is left on
  the model however ``fit()`` ends;
* **on a probe** (``probe_data=``): a fixed sample is run in inference mode
  before training and at every update, a snapshot of the current weights
  (``probing``). With targets (``probe_data=(x, y)``) each probe also
  records, per unit, the gradient of the loss with respect to the unit's
  pre-activation (tag ``<layer>/gradients``): a dead ReLU unit gets exactly
  zero gradient.

Which layers are watched, how their calls are tapped, the pre-activation
gradients, the probe sample and the event file live in the sibling modules
``layers``, ``taps``, ``gradients``, ``probe`` and ``writing``. TensorFlow is
imported only on the TensorFlow backend.
"""

import logging
import numbers
import os
import weakref

import keras
import numpy as np

from tensorboard_plugin_deadrelu.core import sums as sums_lib
from tensorboard_plugin_deadrelu.writing import distributed
from tensorboard_plugin_deadrelu.writing import monitor as monitor_lib
from tensorboard_plugin_deadrelu.keras.counting import check_backend, make_counter
from tensorboard_plugin_deadrelu.keras.gradients import check_gradients_visible, summed_loss
from tensorboard_plugin_deadrelu.keras.layers import (
    check_layers_argument,
    describe,
    not_called,
    resolve_layers,
    tags_for,
)
from tensorboard_plugin_deadrelu.keras.probe import check_probe_fits, probe_from
from tensorboard_plugin_deadrelu.keras.probing import add_stats, make_probe_function
from tensorboard_plugin_deadrelu.keras import recycling
from tensorboard_plugin_deadrelu.keras.taps import LayerTap
from tensorboard_plugin_deadrelu.keras.writing import open_run_writer

logger = logging.getLogger(__name__)

# Probe rows run through the model per call, bounding the memory of a large probe.
PROBE_BATCH_SIZE = 1024

# The monitor counting during training in each model's current fit(), with
# that fit()'s callback params (one dict shared by all its callbacks).
_counting_monitors = weakref.WeakKeyDictionary()


def _probe_errors():
    """The exceptions a model raises for inputs it cannot take, on the current backend."""
    errors = (ValueError, TypeError)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        errors += (tf.errors.InvalidArgumentError,)
    elif backend == "torch":
        errors += (RuntimeError,)
    return errors


class DeadReluMonitor(keras.callbacks.Callback):
    """Records how often each unit of a model's ReLU layers outputs exactly zero.

    Add it to ``fit()``; run ``tensorboard --logdir`` on the parent of
    ``log_dir`` and open the **Dead ReLU** tab (per-unit heatmaps) or the
    Scalars tab (``deadrelu/<layer>/dead_fraction``). It writes into
    ``<log_dir>/train``, the run where ``keras.callbacks.TensorBoard(log_dir)``
    writes its training scalars, so that with both callbacks the loss and
    the dead share are in one run (``run=None`` writes into ``log_dir``
    itself). It works on the TensorFlow, JAX and PyTorch backends of Keras 3
    and writes its event files without TensorFlow.

    Whatever way ``fit()`` ends, even by an exception or a
    KeyboardInterrupt that Keras tells no callback about, the model is left
    as it was (the layers' calls are wrapped only while a step runs or is
    traced, and the counting train function is lent to ``fit()`` one batch at
    a time) and every record written so far is on disk in a closed file.

    Steps, like those of ``keras.callbacks.TensorBoard``: with
    ``update_freq="epoch"`` (the default) the step is the number of epochs
    completed, so step 0 holds the initial weights and step k the state after
    the k-th epoch; with ``update_freq=N`` it is the number of training
    batches run (the optimizer's iteration count, or the monitor's own count
    when that is higher, because a recompile resets the optimizer's). Either
    way steps keep increasing across repeated ``fit()`` calls with the same
    monitor: a second ``fit()`` continues at the next epoch (or at
    ``initial_epoch`` when that is further on). Epochs run by a ``fit()``
    without this monitor are not counted; pass ``initial_epoch`` to say where
    training stands. When a ``fit()`` starts at a step that has no record yet
    (step 0 at first), the monitor first records the weights as they are: the
    probe before the first batch, or, when counting during training, the
    first call of the train function: one batch, or ``steps_per_execution``
    batches when the model was compiled with ``steps_per_execution`` > 1 (the
    first batch's forward pass runs before the first update; the later
    batches of that call see the weights after one or more updates). The
    epoch's record counts those batches again. Every later record
    covers the batches (or probes the weights) since the previous one.

    Args:
      log_dir: The log directory of this training run, as given to
        ``keras.callbacks.TensorBoard``; the monitor writes into its ``run``
        sub-folder (created if missing).
      layers: None to monitor every ReLU-family layer (activation one of
        :data:`RELU_FAMILY`, including ``keras.layers.ReLU`` and
        ``Activation("relu")``), or a list of layer names or layer objects.
        Records appear in model order whatever the order of this list.
      probe_data: None to count during training; otherwise the inputs to probe
        with (an array, a list/dict of arrays, or a tuple ``(x, y)`` or ``(x,
        y, sample_weight)`` as for ``fit()``), of which the first
        ``probe_size`` rows are used. A model that is not built when
        ``fit()`` starts (a Sequential model without ``keras.Input``, a
        subclassed model) is built by calling it on one probe row.
      probe_size: Maximum number of probe rows (default 1024).
      record_gradients: Whether every probe record also writes, per layer, a
        gradient record (tag ``<layer>/gradients``): over the probe rows, the
        values of d(loss_i)/dz, where ``z`` is the layer's pre-activation
        (the value before a Dense/Conv layer's ``activation``, or the input
        of a ReLU/Activation layer) and ``loss_i`` the loss of example ``i``;
        per unit it counts the exact zeros (a dead ReLU unit gets zero
        gradient on every input) and sums ``|d(loss_i)/dz|``. The loss
        differentiated is the *sum* of the per-example losses (not their
        mean), so the mean ``|gradient|`` does not shrink as the probe
        grows; it runs in inference mode like the probe, and only the
        gradient through the unit's activation counts (not a skip
        connection that also reads ``z``). Default (None): on when
        ``probe_data`` has targets ``y``.
      loss_fn: The per-example loss for gradients, a callable ``(y_true,
        y_pred) -> losses`` with one loss per example (or a
        ``keras.losses.Loss``, which is then summed); default: the model's
        compiled loss, summed over examples.
      update_freq: ``"epoch"`` to write once per epoch (step = epochs
        completed), or an int N to write every N training batches (step =
        training batches run; with a probe: probe every N batches);
        ``"batch"`` is N = 1, as for ``keras.callbacks.TensorBoard``.
      warn_above: Optional fraction in [0, 1]: log a warning naming the layer,
        step and dead share when a layer's share of dead units rises above it.
      stop_above: Optional fraction in [0, 1]: like ``warn_above``, and also
        set ``model.stop_training = True``.
      run: The sub-folder of ``log_dir`` to write into: ``"train"`` (the
        default, beside ``keras.callbacks.TensorBoard``'s training scalars),
        another name, or None to write into ``log_dir`` itself.
      recycle: None, or a :class:`~tensorboard_plugin_deadrelu.keras.recycling.ReDo`:
        after every ``every``-th record, the units that record found dead
        (``tau=0``) or τ-dormant (``tau > 0``) are recycled (ReDo, Sokar et
        al. 2023): incoming weights re-drawn, bias 0, the next layer's
        weights that read them 0, a BatchNormalization channel between
        reset, and the optimizer's slots of exactly those weights 0 (see
        :mod:`~tensorboard_plugin_deadrelu.keras.recycling`). The units
        recycled are written as ``<layer>/recycled`` records at the step of
        the record that found them, and :attr:`last_recycled` holds them.
        When counting during training, the sums are reset after a
        recycling, so the next record judges only batches run after it
        (the step-0 record's batch is then not counted again by the first
        epoch's record).

    Raises:
      ValueError: the Keras backend is not TensorFlow, JAX or PyTorch (the
        message names it); an argument is invalid (the message names it); at the start
        of ``fit()``, a layer named in ``layers`` is not in the model,
        ``probe_data`` does not fit the model's inputs, or gradients are
        asked for but there is no single loss to differentiate (``loss_fn``)
        or a layer has no visible pre-activation (``record_gradients``).

    Example:
      >>> monitor = DeadReluMonitor("logs/run1")
      >>> model.fit(x, y, epochs=10, callbacks=[monitor])

      Beside Keras's TensorBoard callback, in the same run ``logs/run1/train``:

      >>> model.fit(x, y, epochs=10, callbacks=[
      ...     keras.callbacks.TensorBoard("logs/run1"), DeadReluMonitor("logs/run1")])

      On a probe, with gradients:

      >>> monitor = DeadReluMonitor("logs/run1", probe_data=(x_val[:1024], y_val[:1024]))
    """

    def __init__(
        self,
        log_dir,
        layers=None,
        probe_data=None,
        probe_size=1024,
        update_freq="epoch",
        warn_above=None,
        stop_above=None,
        record_gradients=None,
        loss_fn=None,
        run="train",
        recycle=None,
    ):
        super().__init__()
        self.backend = check_backend()
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise ValueError("log_dir must be a non-empty path, got %r" % (log_dir,))
        log_dir = os.fspath(log_dir)
        if os.path.exists(log_dir) and not os.path.isdir(log_dir):
            raise ValueError("log_dir %r exists and is not a directory" % log_dir)
        if run is not None and (not isinstance(run, str) or not run or os.path.isabs(run)):
            raise ValueError("run must be None or a relative folder name such as 'train', got %r" % (run,))
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (
            isinstance(update_freq, bool) or not isinstance(update_freq, numbers.Integral) or update_freq < 1
        ):
            raise ValueError('update_freq must be "epoch", "batch" or a positive int, got %r' % (update_freq,))
        if isinstance(probe_size, bool) or not isinstance(probe_size, numbers.Integral) or probe_size < 1:
            raise ValueError("probe_size must be a positive int, got %r" % (probe_size,))
        self.log_dir = log_dir
        self.run_dir = log_dir if run is None else os.path.join(log_dir, run)
        self.update_freq = update_freq
        self.probe_size = int(probe_size)
        # The writer is set per fit(): each fit() gets an event file of its own.
        self._loop = monitor_lib.RecordLoop(None, warn_above=warn_above, stop_above=stop_above)
        self._requested_layers = check_layers_argument(layers)
        self._probe = None if probe_data is None else probe_from(probe_data, self.probe_size)
        has_targets = self._probe is not None and self._probe.y is not None
        if record_gradients is None:
            record_gradients = has_targets
        elif not isinstance(record_gradients, bool):
            raise ValueError("record_gradients must be None, True or False, got %r" % (record_gradients,))
        elif record_gradients and not has_targets:
            raise ValueError(
                "record_gradients=True needs targets on the probe: pass probe_data=(x, y) "
                "(gradients of the loss are taken on the probe)"
            )
        if loss_fn is not None and not callable(loss_fn):
            raise ValueError("loss_fn must be None or a callable (y_true, y_pred) -> per-example losses, got %r" % (loss_fn,))
        if loss_fn is not None and not record_gradients:
            raise ValueError("loss_fn is used only for gradients, which need probe_data=(x, y) and record_gradients")
        if recycle is not None and not isinstance(recycle, recycling.ReDo):
            raise ValueError("recycle must be None or a ReDo(...), got %r" % (recycle,))
        self.recycle = recycle
        self._records_written = 0
        self._redo_rng = None
        # {tag: [units]} of the last recycling (an empty dict when nothing was recycled).
        self.last_recycled = {}
        self.record_gradients = record_gradients
        self._loss_fn = loss_fn
        self._summed_loss = None  # sum over examples of the per-example loss (gradients only)
        self._loss_source = None  # the loss it was made from

        self._layers = None
        self._tags = None
        self._tap = None
        self._counter = None
        self._probe_function = None
        # (train function fit() built, the counting one made from it)
        self._counting_train_function = None
        self._lend_counting_function = None  # installs the counting function for one batch
        self._batches = None  # training batches run so far: the step with update_freq=N
        self._epochs = 0  # epochs completed so far: the step with update_freq="epoch"
        self._batches_in_epoch = 0
        self._batches_since_write = 0
        self._initial_record_pending = False

    @property
    def counts_during_training(self):
        """True when counting training batches, False when probing."""
        return self._probe is None

    # -- fit() hooks --------------------------------------------------------

    def on_train_begin(self, logs=None):
        model = self.model
        self._lend_counting_function = None
        layers = resolve_layers(model, self._requested_layers)
        if self._layers is None or [id(l) for l in layers] != [id(l) for l in self._layers]:
            self._layers = layers
            self._tags = tags_for(layers)
            self._tap = LayerTap(layers)
            self._counter = None
            self._counting_train_function = None
            self._probe_function = None
        # Batches run without this monitor (or before it) count too; the
        # monitor's own count keeps steps increasing when a recompile resets
        # the optimizer's.
        iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        self._batches = max(self._batches or 0, iterations)
        self._batches_in_epoch = 0
        self._batches_since_write = 0
        if self.counts_during_training:
            self._prepare_counting()
        else:
            self._build_from_probe()
            check_probe_fits(model, self._probe.x)
            if self.record_gradients:
                check_gradients_visible(self._layers)
                # A recompile may bring another loss: the probe is traced again.
                loss_source = self._loss_fn if self._loss_fn is not None else getattr(model, "loss", None)
                if self._summed_loss is None or loss_source is not self._loss_source:
                    self._summed_loss = summed_loss(model, self._loss_fn)
                    self._loss_source = loss_source
                    self._probe_function = None
        # A new event file per fit(), created with its first record.
        self._loop.writer = open_run_writer(self.run_dir, writes=distributed.keras_is_chief(model))
        # Written before the first batch (probe) or after it (counting), once
        # on_epoch_begin has told which epoch this fit() starts at.
        self._initial_record_pending = True

    def on_epoch_begin(self, epoch, logs=None):
        self._batches_in_epoch = 0
        # ``epoch`` starts at fit()'s ``initial_epoch``.
        self._epochs = max(self._epochs, epoch)
        if self._initial_record_pending and not self.counts_during_training:
            self._initial_record_pending = False
            step = self._current_step()
            if self._loop.is_new_step(step):
                stats, gradient_stats = self._run_probe()
                self._write(step, stats, gradient_stats)
                self._recycle_after_record(step, stats)

    def on_train_batch_begin(self, batch, logs=None):
        if self._lend_counting_function is not None:
            self._lend_counting_function()

    def on_train_batch_end(self, batch, logs=None):
        # ``batch`` is the last batch index of this call: more than one batch
        # runs per call with ``steps_per_execution`` > 1.
        new_batches = batch + 1 - self._batches_in_epoch
        self._batches_in_epoch = batch + 1
        self._batches += new_batches
        self._batches_since_write += new_batches
        if self._initial_record_pending:
            self._initial_record_pending = False
            # The first call's sums: one batch, or steps_per_execution batches
            # (one call runs them all). Its first forward pass saw the initial
            # weights; the epoch's record still includes them, so the sums are
            # not reset here.
            step = self._epochs if self.update_freq == "epoch" else self._batches - new_batches
            if self._loop.is_new_step(step):
                stats = self._accumulated()
                self._write(step, stats)
                if self._recycle_after_record(step, stats):
                    # The first epoch's record judges only batches after the recycling.
                    self._counter.reset()
        if self.update_freq != "epoch" and self._batches_since_write >= self.update_freq:
            self._write_update()

    def on_epoch_end(self, epoch, logs=None):
        self._epochs += 1
        if self.update_freq == "epoch":
            self._write_update()

    def on_train_end(self, logs=None):
        self._lend_counting_function = None
        if self.update_freq != "epoch" and self._batches_since_write:
            self._write_update()  # the batches since the last record
        self._loop.writer = None

    # -- counting during training ---------------------------------------------

    def _prepare_counting(self):
        """Builds (or reuses) the counting train function and arranges to lend it to fit() batch by batch.

        The model keeps fit()'s own train function: :meth:`on_train_batch_begin`
        puts the counting one in its place, and the counting one puts fit()'s
        back as the first thing it does when fit() calls it. So between two
        batches, and after fit() ends in any way, the model has its own
        train function, and a later fit() without this monitor counts nothing.
        """
        model = self.model
        other = _counting_monitors.get(model)
        if other is not None and other[0]() not in (None, self) and other[1] is self.params:
            raise ValueError(
                "two DeadReluMonitors count during training in this fit(); use one "
                "(its layers= can name every layer to watch) and give the others probe_data"
            )
        _counting_monitors[model] = (weakref.ref(self), self.params)
        if self._counter is None:
            self._counter = make_counter(model, self._layers, self._tags, self._tap)
        else:
            self._counter.reset()
        fit_train_function = model.train_function
        cached = self._counting_train_function
        if cached is None or cached[0] is not fit_train_function:
            # fit() built its train function (not yet traced) before calling
            # on_train_begin. The counting one is kept for later fit() calls
            # until the model is recompiled, so that they do not trace again.
            cached = (fit_train_function, self._counter.counting_function(fit_train_function))
            self._counting_train_function = cached
        counting_train_function = cached[1]

        def counting_once(*args):
            model.train_function = fit_train_function
            return counting_train_function(*args)

        def lend():
            model.train_function = counting_once

        self._lend_counting_function = lend

    def _accumulated(self):
        """Per monitored layer, the sums counted since the last reset (numpy)."""
        stats = []
        for sums, layer in zip(self._counter.result(), self._layers):
            # Every record covers at least one batch, so a layer the train step
            # calls has counted something.
            if sums is None or sums["count"] == 0:
                raise not_called(layer, self.model)
            stats.append(sums_lib.as_numpy(sums))
        return stats

    # -- probing ------------------------------------------------------------

    def _build_from_probe(self):
        """Builds a model that fit() has not built yet with one probe row, as its first batch would.

        Keras builds a Sequential model without ``keras.Input`` and a
        subclassed model inside the first train step, after on_train_begin;
        the probe before training needs the weights now.
        """
        if self.model.built:
            return
        one_row = self._probe.rows_between(0, 1).x
        try:
            self.model(one_row, training=False)
        except _probe_errors() as e:
            raise ValueError("probe_data does not fit model %r: %s" % (self.model.name, e)) from e

    def _run_probe(self):
        """Runs the probe in chunks.

        Returns:
          ``(activations, gradients)``: per monitored layer, the sums over the
          probe rows of its outputs, and of the gradients of the summed loss
          with respect to its pre-activations (None when not recording
          gradients).
        """
        if self._probe_function is None:
            self._probe_function = make_probe_function(
                self.model, self._layers, self._tap, self._summed_loss if self.record_gradients else None
            )
        with_gradients = self.record_gradients
        totals = [None] * len(self._layers)
        gradient_totals = [None] * len(self._layers) if with_gradients else None
        for start in range(0, self._probe.rows, PROBE_BATCH_SIZE):
            chunk = self._probe.rows_between(start, start + PROBE_BATCH_SIZE)
            try:
                if with_gradients:
                    stats, gradient_stats = self._probe_function(chunk.x, chunk.y, chunk.sample_weight)
                else:
                    stats, gradient_stats = self._probe_function(chunk.x, None, None)
            except _probe_errors() as e:
                raise ValueError("probe_data does not fit model %r: %s" % (self.model.name, e)) from e
            for index, layer_stats in enumerate(stats):
                if layer_stats is None:
                    raise not_called(self._layers[index], self.model)
                totals[index] = add_stats(totals[index], layer_stats)
                if with_gradients:
                    gradient_totals[index] = add_stats(gradient_totals[index], gradient_stats[index])
        return (
            [sums_lib.as_numpy(t) for t in totals],
            None if gradient_totals is None else [sums_lib.as_numpy(t) for t in gradient_totals],
        )

    # -- writing --------------------------------------------------------------

    def _write_update(self):
        if self.counts_during_training:
            stats, gradient_stats = self._accumulated(), None
            self._counter.reset()
        else:
            stats, gradient_stats = self._run_probe()
        self._batches_since_write = 0
        step = self._current_step()
        if self._loop.is_new_step(step):
            self._write(step, stats, gradient_stats)
            self._recycle_after_record(step, stats)

    def _current_step(self):
        return self._epochs if self.update_freq == "epoch" else self._batches

    def _write(self, step, stats_per_layer, gradient_stats_per_layer=None):
        """Writes per layer one record, its gradient record if given, and a dead-fraction scalar; then checks the thresholds."""
        if not self._loop.is_new_step(step):
            return
        mode = (
            "counted during training over the batches since the previous record"
            if self.counts_during_training
            else "on a fixed probe of %d rows in inference mode" % self._probe.rows
        )
        if gradient_stats_per_layer is None:
            gradient_stats_per_layer = [None] * len(self._layers)
        records = [
            monitor_lib.LayerRecord(
                tag=tag,
                order=order,
                sums=stats,
                description="Outputs of layer `%s`, %s, %s." % (layer.name, describe(layer), mode),
                gradient_sums=gradient_stats,
                gradient_description="Gradients d(loss_i)/dz of layer `%s`, %s, with respect to its "
                "pre-activation z, %s (loss_i: the loss of probe example i)." % (layer.name, describe(layer), mode),
            )
            for order, (tag, layer, stats, gradient_stats) in enumerate(
                zip(self._tags, self._layers, stats_per_layer, gradient_stats_per_layer)
            )
        ]
        self._loop.write(step, records)
        if self._loop.should_stop:
            self.model.stop_training = True

    # -- recycling ------------------------------------------------------------

    def _recycle_after_record(self, step, stats_per_layer):
        """Recycles the units the record just written found, on every ``every``-th record.

        Returns True when some unit was recycled. Every layer's neighbours
        and widths are checked before any weight changes.
        """
        self._records_written += 1
        redo = self.recycle
        if redo is None or self._records_written % redo.every:
            return False
        model = self.model
        pairs = redo.pairs or {}
        plans = []
        for order, (tag, layer, stats) in enumerate(zip(self._tags, self._layers, stats_per_layer)):
            if tag in pairs:
                neighbours = recycling.declared_neighbours(model, tag, pairs[tag])
            else:
                neighbours = recycling.find_neighbours(model, tag, layer)
            units = len(stats["zeros"])
            plans.append((tag, order, units, recycling.plan(neighbours, units),
                          monitor_lib.units_to_recycle(stats, redo.tau)))
        recycled = {tag: chosen.tolist() for tag, _, _, _, chosen in plans if len(chosen)}
        self.last_recycled = recycled
        if not recycled:
            return False
        if self.backend == "jax":
            # Inside fit() the weights live in JAX's training state; put them
            # on the variables (fit() reads them back before the next batch).
            model.jax_state_sync()
        if self._redo_rng is None:
            seed = redo.seed if redo.seed is not None else np.random.randint(2**31 - 1)
            self._redo_rng = np.random.default_rng(seed)
        optimizer = getattr(model, "optimizer", None)
        model_variables = list(model.trainable_variables)
        for tag, _, _, plan, chosen in plans:
            seed = int(self._redo_rng.integers(2**31 - 1))
            recycling.recycle_units(plan, chosen, seed, optimizer, redo.initializer, model_variables)
        self._loop.write_recycled(step, [(tag, order, units, chosen) for tag, order, units, _, chosen in plans])
        return True

    @property
    def warn_above(self):
        """The dead share above which a layer's crossing is logged, or None."""
        return self._loop.warn_above

    @property
    def stop_above(self):
        """The dead share above which training stops, or None."""
        return self._loop.stop_above
