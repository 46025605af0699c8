"""Where the Keras monitor's records go: an event file that is open only while it is written.

The event file is opened in append mode for each step's records and closed
again, so that whatever way ``fit()`` ends, even by an exception Keras tells
no callback about, everything written is on disk and no file is left open.
Records are written through :class:`event_writer.RecordWriter` (TensorBoard's
event format without TensorFlow), the same way on every Keras backend.
"""

from tensorboard_plugin_deadrelu.writing import distributed, event_writer


def open_run_writer(run_dir, writes=True):
    """A :class:`event_writer.RecordWriter` for one ``fit()`` into ``run_dir``.

    ``writes=False`` (a non-chief worker of a distributed job) gives one that
    builds the records but creates no file (:class:`distributed.Discard`).
    """
    if writes:
        sink = event_writer.AppendingEventFile(run_dir, filename_suffix=".deadrelu")
    else:
        sink = distributed.Discard(run_dir)
    return event_writer.RecordWriter(writer=sink)
