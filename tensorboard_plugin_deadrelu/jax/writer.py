"""Writing the sums counted inside a jitted JAX step: one record per layer per :meth:`Writer.write`."""

import jax

from tensorboard_plugin_deadrelu.jax import sums as sums_lib
from tensorboard_plugin_deadrelu.writing import distributed
from tensorboard_plugin_deadrelu.writing import event_writer
from tensorboard_plugin_deadrelu.writing import monitor as monitor_lib

DESCRIPTION = (
    "Outputs of `%s`, counted inside the jitted train step (deadrelu.add) over every batch since the previous "
    "record."
)


def record_writer(log_dir=None, writer=None):
    """A :class:`RecordWriter` for ``log_dir`` or ``writer`` on JAX process 0; elsewhere one that creates no file.

    Arguments are checked alike in every process (a mistake raises everywhere).
    """
    if jax.process_index() == 0 or (log_dir is None) == (writer is None):
        return event_writer.RecordWriter(log_dir, writer=writer)
    return event_writer.RecordWriter(writer=distributed.Discard(None if log_dir is None else str(log_dir)))


class Writer:
    """Writes the :class:`~tensorboard_plugin_deadrelu.jax.sums.Sums` of a JAX training loop as Dead ReLU records.

    Each :meth:`write` reads the sums from the device in one
    ``jax.device_get``, writes per layer one record (tag = the layer's name,
    in the order of :func:`zeros`) and a ``deadrelu/<name>/dead_fraction``
    scalar, and applies ``warn_above``/``stop_above``. TensorFlow is not
    needed. Under multi-process JAX, call it in every process (the sums are
    global arrays); only process 0 (``jax.process_index() == 0``) writes files.

    Example:
      >>> writer = deadrelu.Writer("logs/run1")
      >>> shares = writer.write(sums, step=epoch + 1)   # {name: share of dead units}
      >>> sums = deadrelu.zeros_like(sums)

    Args:
      log_dir: Directory of the run (created if missing). Exactly one of
        ``log_dir`` and ``writer``.
      writer: Instead: an existing event writer (``torch.utils.tensorboard
        .SummaryWriter``, tensorboardX's, TensorBoard's ``EventFileWriter`` or
        anything with ``add_event(event)``); :meth:`close` flushes it and
        leaves it open.
      warn_above: Optional fraction in [0, 1]: log a warning naming the
        layer, step and dead share when a layer's share of dead units rises
        above it (once per crossing).
      stop_above: Optional fraction in [0, 1]: like ``warn_above``, and
        :attr:`should_stop` is True after a write with a share above it.

    Raises:
      ValueError: neither or both of ``log_dir`` and ``writer``, or a
        ``warn_above``/``stop_above`` outside [0, 1].
    """

    def __init__(self, log_dir=None, *, writer=None, warn_above=None, stop_above=None):
        self._loop = monitor_lib.RecordLoop(
            record_writer(log_dir, writer), warn_above=warn_above, stop_above=stop_above, owner="deadrelu.Writer"
        )

    @property
    def log_dir(self):
        """The run's directory (None for a ``writer`` that does not say)."""
        return self._loop.writer.log_dir

    @property
    def should_stop(self):
        """True when the last write found a layer's dead share above ``stop_above``."""
        return self._loop.should_stop

    def write(self, sums, step):
        """Writes one record per layer of ``sums`` at ``step``, and its dead-share scalar.

        Args:
          sums: The :class:`Sums` returned by the train step (device arrays;
            read in one ``jax.device_get``). A layer with ``count`` 0 gets a
            record the tab shows as "no data", and no scalar.
          step: int, greater than every step written before by this writer.

        Returns:
          ``{name: share of dead units}`` of the layers that saw something.
        """
        sums_lib.check_sums(sums)
        step = self._loop.check_step(step)
        host = jax.device_get(sums)
        records = [
            monitor_lib.LayerRecord(tag=name, order=index, sums=layer_sums, description=DESCRIPTION % name)
            for index, (name, layer_sums) in enumerate(sums_lib.to_numpy(host).items())
        ]
        return self._loop.write(step, records)

    def close(self):
        """Flushes and closes the event file (only flushes a ``writer`` you gave). Idempotent."""
        self._loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
