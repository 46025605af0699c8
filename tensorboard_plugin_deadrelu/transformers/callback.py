"""The ``transformers.Trainer`` callback: a :class:`DeadReluMonitor` per ``train()``, records at epoch ends."""

import os
import sys

from transformers import TrainerCallback
from transformers.integrations import integration_utils

from tensorboard_plugin_deadrelu.torch.monitor import DeadReluMonitor
from tensorboard_plugin_deadrelu.writing import distributed
from tensorboard_plugin_deadrelu.writing import monitor as monitor_lib


def _running_tensorboard_callback():
    """The ``TensorBoardCallback`` of the ``CallbackHandler`` calling us, if any (found on the call stack).

    ``transformers`` hands callbacks neither the trainer nor its other
    callbacks; ``CallbackHandler.call_event`` is the frame that called this
    event, and its ``self`` holds the callbacks list.
    """
    frame = sys._getframe(1)
    for _ in range(8):
        if frame is None:
            break
        handler = frame.f_locals.get("self")
        callbacks = getattr(handler, "callbacks", None)
        if isinstance(callbacks, list):
            for callback in callbacks:
                if isinstance(callback, integration_utils.TensorBoardCallback):
                    return callback
            return None
        frame = frame.f_back
    return None


def tensorboard_log_dir(args, state, tensorboard_callback=None):
    """The folder the Trainer's ``TensorBoardCallback`` writes its scalars (``train/loss``) into.

    When ``tensorboard_callback`` (the running one) already opened its
    writer, its folder. Otherwise the rule of
    ``transformers.integrations.integration_utils.TensorBoardCallback``
    (transformers 5.x, which dropped ``TrainingArguments.logging_dir``),
    replicated because it lives inside that callback's ``__init__`` and
    ``on_train_begin``: ``$TENSORBOARD_LOGGING_DIR`` (user-expanded) if set,
    else ``<output_dir>/<default_logdir()>`` (``runs/<date>_<host>``), with the
    trial name appended during a hyperparameter search. ``default_logdir()``
    holds the time to the second, so only the running callback's folder is
    certain to be the same.
    """
    if tensorboard_callback is not None:
        writer = getattr(tensorboard_callback, "tb_writer", None)
        for found in (getattr(writer, "log_dir", None), getattr(writer, "logdir", None),
                      getattr(tensorboard_callback, "logging_dir", None)):
            if isinstance(found, (str, os.PathLike)):
                return os.fspath(found)
    if getattr(state, "is_hyper_param_search", False) and getattr(state, "trial_name", None) is not None:
        return os.path.join(args.output_dir, integration_utils.default_logdir(), state.trial_name)
    logging_dir = os.getenv("TENSORBOARD_LOGGING_DIR")
    if logging_dir is not None:
        return os.path.expanduser(logging_dir)
    return os.path.join(args.output_dir, integration_utils.default_logdir())


class DeadReluCallback(TrainerCallback):
    """Records how often each unit of a model's ReLU modules outputs exactly zero during ``Trainer.train()``.

    In ``on_train_begin`` it hooks the model's ReLU-family modules (or
    ``modules``) with a :class:`~tensorboard_plugin_deadrelu.torch.DeadReluMonitor`,
    which counts every forward pass in training mode: every training
    micro-batch once (also with gradient accumulation), not evaluation or
    prediction (the Trainer runs those in eval mode). It writes one record
    per module at the end of every epoch (``on_epoch_end``), or every
    ``every_n_steps`` optimizer steps instead (``on_step_end``), at
    ``state.global_step``, into the folder of the Trainer's own TensorBoard
    scalars (see :func:`tensorboard_log_dir`), or ``log_dir``. The hooks are
    removed in ``on_train_end``.

    Tags are qualified names in ``model.named_modules()``. The model can be a
    ``PreTrainedModel`` or a plain ``torch.nn.Module`` returning a dict with
    ``"loss"`` (or a tuple whose first item is the loss).

    Under ``torchrun`` every rank counts its own batches and every write adds
    up the sums of all ranks (an ``all_reduce``, called on every rank); only
    the world process zero (``state.is_world_process_zero``) writes a file.

    Example:
      >>> trainer = Trainer(model=model, args=TrainingArguments("out", report_to=["tensorboard"]),
      ...                   train_dataset=train, eval_dataset=val, callbacks=[DeadReluCallback()])
      >>> trainer.train()

    Args:
      modules: None for every ReLU-family module, or a list of qualified
        module names or module objects.
      every_n_steps: None to write at the end of every epoch; an int N >= 1
        to write instead whenever ``state.global_step`` is a multiple of N.
      log_dir: The run folder to write into instead of the TensorBoard
        callback's.
      units_dims: Optional ``{module name: axis}`` overriding the units axis.
      warn_above: Optional fraction in [0, 1]: log a warning when a module's
        dead share rises above it (once per crossing).
      stop_above: Optional fraction in [0, 1]: warn, and set
        ``control.should_training_stop`` after a record above it.

    Raises:
      ValueError: a bad ``every_n_steps``, ``warn_above`` or ``stop_above``;
        in ``on_train_begin``, ``modules`` naming something the model lacks.
    """

    def __init__(self, modules=None, *, every_n_steps=None, log_dir=None, units_dims=None,
                 warn_above=None, stop_above=None):
        self.modules = modules
        self.every_n_steps = monitor_lib.check_every_n_steps(every_n_steps)
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.units_dims = units_dims
        self.warn_above = monitor_lib.check_fraction("warn_above", warn_above)
        self.stop_above = monitor_lib.check_fraction("stop_above", stop_above)
        self.monitor = None
        self.run_dir = None
        self._steps = monitor_lib.StepsPerRun()

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._close()
        if model is None:
            raise ValueError("DeadReluCallback.on_train_begin needs the model (the Trainer passes model=...)")
        run_dir = self.log_dir
        if run_dir is None:
            run_dir = tensorboard_log_dir(args, state, _running_tensorboard_callback())
        self.run_dir = run_dir
        if state.is_world_process_zero:
            target = {"log_dir": run_dir}
        else:  # counts and joins the all_reduce, writes nothing
            target = {"writer": distributed.Discard(run_dir)}
        self.monitor = DeadReluMonitor(
            model, modules=self.modules, units_dims=self.units_dims,
            warn_above=self.warn_above, stop_above=self.stop_above, **target,
        )

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        if self.every_n_steps is not None and step > 0 and step % self.every_n_steps == 0:
            return self._write(step, control)
        return None

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.every_n_steps is None:
            return self._write(state.global_step, control)
        return None

    def on_train_end(self, args, state, control, **kwargs):
        self._close()

    def _write(self, step, control):
        """Writes the sums since the last write on every rank (a collective); rank 0 writes the file."""
        if self.monitor is None:
            return None
        if not self._steps.allows(self.run_dir, step):
            self.monitor.reset()
            return None
        self.monitor.write(step)
        self._steps.wrote(self.run_dir, step)
        if self.monitor.should_stop:
            control.should_training_stop = True
        return control

    def _close(self):
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None
