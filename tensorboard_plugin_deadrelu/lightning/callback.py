"""The Lightning callback: a :class:`DeadReluMonitor` per ``fit``, records at epoch ends (or every N steps)."""

import os

import lightning.pytorch as pl

from tensorboard_plugin_deadrelu.core import analysis
from tensorboard_plugin_deadrelu.torch.monitor import DeadReluMonitor
from tensorboard_plugin_deadrelu.writing import monitor as monitor_lib


def tensorboard_log_dir(trainer):
    """The run folder (``log_dir``) of the first ``TensorBoardLogger`` in ``trainer.loggers``, or None."""
    for candidate in trainer.loggers:
        if isinstance(candidate, pl.loggers.TensorBoardLogger):
            return candidate.log_dir
    return None


class DeadReluCallback(pl.Callback):
    """Records how often each unit of a LightningModule's ReLU modules outputs exactly zero.

    At the start of ``fit`` it hooks the LightningModule's ReLU-family modules
    (or ``modules``) with a
    :class:`~tensorboard_plugin_deadrelu.torch.DeadReluMonitor`, which counts
    every forward pass made in training mode: the training batches, not the
    sanity check, validation, test or predict (Lightning runs those in eval
    mode). It writes one record per module at the end of every training
    epoch, or every ``every_n_steps`` optimizer steps instead, at step
    ``trainer.global_step`` (the step Lightning's own loggers use), into the
    run folder of the trainer's ``TensorBoardLogger`` (``logger.log_dir``),
    next to the loss. The hooks are removed at the end of ``fit`` and when
    ``fit`` raises.

    Tags are qualified names in the LightningModule's ``named_modules()``
    (``net.1`` for the second module of ``self.net = nn.Sequential(...)``).

    Under DDP (``strategy="ddp"``) every rank counts its own batches; each
    write adds up the sums of all ranks (one ``all_reduce``) and only rank 0
    writes a file.

    Calling ``fit`` again (the same callback, or a new one, with a trainer
    resumed from a checkpoint so ``global_step`` goes on) continues the
    records in the same run folder; a write at a step not after the last one
    this callback wrote into that folder is skipped with a warning
    (TensorBoard drops points after a step that goes back).

    Example:
      >>> trainer = pl.Trainer(max_epochs=20, logger=pl.loggers.TensorBoardLogger("logs"),
      ...                      callbacks=[DeadReluCallback(warn_above=0.5)])
      >>> trainer.fit(model, train_loader, val_loader)

    Args:
      modules: None for every ReLU-family module of the LightningModule, or a
        list of qualified module names or module objects.
      every_n_steps: None to write at the end of every training epoch; an int
        N >= 1 to write instead whenever ``trainer.global_step`` reaches a
        multiple of N (at the end of the batch that completed the step).
      log_dir: The run folder to write into, instead of the TensorBoard
        logger's (needed when the trainer has no ``TensorBoardLogger``).
      units_dims: Optional ``{module name: axis}`` overriding the units axis
        (see :class:`~tensorboard_plugin_deadrelu.torch.DeadReluMonitor`).
      warn_above: Optional fraction in [0, 1]: log a warning when a module's
        dead share rises above it (once per crossing).
      stop_above: Optional fraction in [0, 1]: warn, and set
        ``trainer.should_stop = True`` after a record above it.
      recycle_tau: None (default) to only record; a number >= 0 to recycle
        units after each record (ReDo, see
        :meth:`~tensorboard_plugin_deadrelu.torch.DeadReluMonitor.recycle`):
        0 recycles the dead units, a τ > 0 the τ-dormant ones. The
        optimizer state cleared is ``trainer.optimizers[0]``'s; the units
        reset go into the run under ``<module>/recycled``.
      recycle_pairs: Optional ``{module tag: (producer name, consumer
        name)}`` for modules outside an ``nn.Sequential`` chain.

    Raises:
      ValueError: a bad ``every_n_steps``, ``warn_above`` or ``stop_above``
        (here); at the start of ``fit``: no ``TensorBoardLogger`` and no
        ``log_dir``, or ``modules`` names something the module does not have.
    """

    def __init__(self, modules=None, *, every_n_steps=None, log_dir=None, units_dims=None,
                 warn_above=None, stop_above=None, recycle_tau=None, recycle_pairs=None):
        self.modules = modules
        self.every_n_steps = monitor_lib.check_every_n_steps(every_n_steps)
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.units_dims = units_dims
        self.warn_above = monitor_lib.check_fraction("warn_above", warn_above)
        self.stop_above = monitor_lib.check_fraction("stop_above", stop_above)
        self.recycle_tau = None if recycle_tau is None else analysis.check_tau(recycle_tau)
        self.recycle_pairs = recycle_pairs
        self.monitor = None
        self._run_dir = None
        self._steps = monitor_lib.StepsPerRun()

    # -- fit lifecycle ---------------------------------------------------------------------------

    def on_fit_start(self, trainer, pl_module):
        self._close()
        run_dir = self.log_dir if self.log_dir is not None else tensorboard_log_dir(trainer)
        if run_dir is None:
            raise ValueError(
                "DeadReluCallback needs a TensorBoard run folder: give the Trainer a "
                "lightning.pytorch.loggers.TensorBoardLogger (logger=TensorBoardLogger('logs')) "
                "or pass DeadReluCallback(log_dir=...)"
            )
        self._run_dir = os.fspath(run_dir)
        self.monitor = DeadReluMonitor(
            pl_module, self._run_dir, modules=self.modules, units_dims=self.units_dims,
            warn_above=self.warn_above, stop_above=self.stop_above, pairs=self.recycle_pairs,
        )

    def on_train_start(self, trainer, pl_module):
        if self.monitor is not None:
            self.monitor.reset()  # nothing before the first training batch counts

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        if self.every_n_steps is not None and step > 0 and step % self.every_n_steps == 0:
            if step != self._steps.last(self._run_dir):  # gradient accumulation: later micro-batches
                self._write(trainer, step)

    def on_train_epoch_end(self, trainer, pl_module):
        if self.every_n_steps is None:
            self._write(trainer, trainer.global_step)

    def on_fit_end(self, trainer, pl_module):
        self._close()

    def on_exception(self, trainer, pl_module, exception):
        self._close()

    def teardown(self, trainer, pl_module, stage):
        if stage == "fit":
            self._close()

    # -- helpers ---------------------------------------------------------------------------------

    def _write(self, trainer, step):
        """Writes the sums since the last write at ``step`` on every rank (a collective); rank 0 writes a file."""
        if self.monitor is None:
            return
        if not self._steps.allows(self._run_dir, step):
            self.monitor.reset()
            return
        self.monitor.write(step)
        self._steps.wrote(self._run_dir, step)
        if self.recycle_tau is not None:
            # Every rank recycles the same units (the record's sums are summed over ranks).
            self.monitor.recycle(trainer.optimizers[0] if trainer.optimizers else None, tau=self.recycle_tau)
        if self.monitor.should_stop:
            trainer.should_stop = True

    def _close(self):
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None
