"""Where the monitor's records go: an event file that is open only while it is written.

:class:`MonitorWriter` writes, per record, one Dead ReLU record per layer, its
gradient record when there is one, and the layer's ``dead_fraction`` scalar,
through :class:`event_writer.RecordWriter` (TensorBoard's event format
without TensorFlow, so the monitor writes the same way on every Keras
backend). The event file behind it is opened in append mode for each batch of
records and closed again, so that whatever way ``fit()`` ends, even by an
exception Keras tells no callback about, everything written is on disk and no
file is left open.
"""

import numpy as np

from tensorboard_plugin_deadrelu.writing import distributed
from tensorboard_plugin_deadrelu.writing import event_writer
from tensorboard_plugin_deadrelu.core import metadata


class MonitorWriter:
    """Writes the monitor's records of one step into a run folder, flushed and closed after each step."""

    def __init__(self, run_dir, writes=True):
        self.run_dir = run_dir
        # A non-chief worker of a distributed job builds the records but writes none (distributed.py).
        if writes:
            sink = event_writer.AppendingEventFile(run_dir, filename_suffix=".deadrelu")
        else:
            sink = distributed.Discard(run_dir)
        self._writer = event_writer.RecordWriter(writer=sink)

    def write_step(self, step, layers):
        """Writes one step's records and returns per layer ``(tag, dead, units, share)``.

        ``layers`` holds per monitored layer ``(tag, order, stats, description,
        gradient_stats, gradient_description)``; ``gradient_stats`` may be None.
        """
        shares = []
        for tag, order, stats, description, gradient_stats, gradient_description in layers:
            self._writer.write_record(tag, step, **stats, order=order, description=description)
            if gradient_stats is not None:
                self._writer.write_record(
                    tag, step, **gradient_stats, kind=metadata.KIND_GRADIENTS, order=order,
                    description=gradient_description,
                )
            dead, units = self._writer.write_dead_fraction(tag, step, **stats)
            shares.append((tag, dead, units, dead / units if units else 0.0))
        self._writer.flush()
        return shares


def as_stats(sums):
    """Sums from a counter or a probe as the keyword arguments of a record (numpy, exact ints)."""
    return {
        "count": int(sums["count"]),
        "zeros": np.asarray(sums["zeros"], np.int64),
        "abs_sum": np.asarray(sums["abs_sum"], np.float64),
        "nonfinite": np.asarray(sums["nonfinite"], np.int64),
    }
