"""Writing Dead ReLU records and scalars without TensorFlow.

:class:`RecordWriter` writes the records of :mod:`metadata` (built by
:func:`metadata.summary_pb`, the numpy twin, so the encoding has one home) and
plain scalars into event files with TensorBoard's own writing code. It serves
every framework that is not TensorFlow: the native PyTorch monitor, Keras 3
on the JAX or torch backend, and JAX/Flax training loops.

It writes either into its own event file in ``log_dir`` or into a writer the
caller already has (a ``torch.utils.tensorboard.SummaryWriter``, or anything
with ``add_event(event)``), so that the records land in the same run, and the
same event file, as the caller's other summaries.

TensorFlow is never imported for a local ``log_dir``: TensorBoard's
``EventFileWriter`` (what ``torch.utils.tensorboard`` uses) opens files
through ``tensorboard.compat.tf``, which *is* TensorFlow whenever it is
installed (seconds of import and its log lines in a PyTorch or JAX program).
So a local event file is written here with TensorBoard's record framing
(``tensorboard.summary.writer.record_writer``), synchronously: records are
written a few times per epoch, not per step. A remote ``log_dir``
(``gs://...``, ``s3://...``) goes through ``EventFileWriter``, which needs
TensorFlow's file systems for those.
"""

import itertools
import os
import socket
import numbers
import time

import numpy as np

from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.scalar import summary_v2 as scalar_summary
from tensorboard.summary.writer import record_writer

from tensorboard_plugin_deadrelu.core import metadata

# The Scalars-tab series of a monitored layer: the share of its units that
# were dead in the record of that step.
DEAD_FRACTION_TAG = "deadrelu/%s/dead_fraction"


def dead_fraction_tag(tag):
    """The scalar tag of layer ``tag``'s dead fraction, ``deadrelu/<tag>/dead_fraction``."""
    return DEAD_FRACTION_TAG % tag


def _check_step(step):
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ValueError("step must be an int >= 0, got %r" % (step,))
    return int(step)


# Distinguishes event files this process opens in the same second.
_file_numbers = itertools.count()


def new_event_file_name(filename_suffix=""):
    """A fresh event-file name, as ``EventFileWriter`` names its files, plus ``filename_suffix``.

    ``events.out.tfevents.<time>.<host>.<pid>.<n><suffix>``: TensorBoard reads
    every file of a run whose name contains ``tfevents``, in name order, so
    ``n`` is zero-padded: files opened in the same second sort in the order
    they were opened (``.10`` would sort before ``.9``).
    """
    return "events.out.tfevents.%010d.%s.%s.%06d%s" % (
        time.time(), socket.gethostname(), os.getpid(), next(_file_numbers), filename_suffix
    )


def _file_version_event():
    # TensorBoard expects an event file to start with its format version.
    return event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")


class LocalEventFile:
    """A new event file in a local directory, written synchronously without TensorFlow.

    Named by :func:`new_event_file_name`; created exclusively, so it never
    overwrites another writer's file. The first event holds the file version,
    as TensorBoard expects.
    """

    def __init__(self, log_dir, flush_secs=120, filename_suffix=""):
        os.makedirs(log_dir, exist_ok=True)
        while True:
            self.path = os.path.join(log_dir, new_event_file_name(filename_suffix))
            try:
                self._file = open(self.path, "xb")
                break
            except FileExistsError:
                continue
        self._records = record_writer.RecordWriter(self._file)
        self._flush_secs = flush_secs
        self._last_flush = time.monotonic()
        self.add_event(_file_version_event())
        self.flush()

    def add_event(self, event):
        self._records.write(event.SerializeToString())
        if time.monotonic() - self._last_flush > self._flush_secs:
            self.flush()

    def flush(self):
        self._records.flush()
        self._last_flush = time.monotonic()

    def close(self):
        if not self._records.closed:
            self._records.flush()
            self._records.close()


class AppendingEventFile:
    """An event file in ``log_dir`` that is open only while :meth:`flush` appends to it.

    Events wait in memory until :meth:`flush`, which opens the file in append
    mode, writes them and closes it again: whatever way the program goes on
    (an exception no one is told about), nothing stays open and everything
    flushed is on disk. A remote ``scheme://`` ``log_dir`` is written through
    TensorBoard's file layer (which needs TensorFlow's file systems).
    """

    def __init__(self, log_dir, filename_suffix=""):
        self.log_dir = log_dir
        self.path = os.path.join(log_dir, new_event_file_name(filename_suffix))
        self._pending = [_file_version_event().SerializeToString()]

    def add_event(self, event):
        self._pending.append(event.SerializeToString())

    def flush(self):
        if not self._pending:
            return
        if "://" in self.log_dir:
            from tensorboard.compat import tf as tb_tf  # remote file systems, as TensorBoard reaches them

            tb_tf.io.gfile.makedirs(self.log_dir)
            opened = tb_tf.io.gfile.GFile(self.path, "ab")
        else:
            os.makedirs(self.log_dir, exist_ok=True)
            opened = open(self.path, "ab")
        with opened as f:
            records = record_writer.RecordWriter(f)
            for data in self._pending:
                records.write(data)
        self._pending = []

    def get_logdir(self):
        return self.log_dir


def _open_event_file(log_dir, flush_secs, filename_suffix):
    """A :class:`LocalEventFile`, or TensorBoard's ``EventFileWriter`` for a remote ``scheme://`` path."""
    if "://" in log_dir:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        return EventFileWriter(log_dir, flush_secs=flush_secs, filename_suffix=filename_suffix)
    return LocalEventFile(log_dir, flush_secs=flush_secs, filename_suffix=filename_suffix)


def _event_sink(writer):
    """The ``add_event(event)`` callable of ``writer``; raises ValueError naming ``writer``."""
    if hasattr(writer, "_get_file_writer"):
        # torch.utils.tensorboard.SummaryWriter: its own add_scalar etc. write
        # through _get_file_writer(), which reopens the file after close().
        return lambda event: writer._get_file_writer().add_event(event)
    if callable(getattr(writer, "add_event", None)):
        return writer.add_event
    raise ValueError(
        "writer must be a torch.utils.tensorboard.SummaryWriter, a "
        "tensorboard EventFileWriter or any object with add_event(event), got %r" % (writer,)
    )


class RecordWriter:
    """Writes Dead ReLU records and scalars into a TensorBoard run, without TensorFlow.

    Give it either ``log_dir`` (it creates an event file there and closes it
    in :meth:`close`) or ``writer``, an event writer you already have, such as
    a ``torch.utils.tensorboard.SummaryWriter`` (records then go into its run
    next to your own scalars; :meth:`close` only flushes it, closing it stays
    your job).

    A record holds one layer's sums at one step (see :mod:`metadata`); the
    tab shows a heatmap per layer tag. Steps should only increase per tag:
    TensorBoard's default loader drops points after a step that goes back.

    Example:
      >>> from tensorboard_plugin_deadrelu import summary
      >>> with RecordWriter("logs/run1") as writer:
      ...     sums = summary.reduce_activations_np(hidden)   # [batch, units] numpy
      ...     writer.write_record("dense_1", 3, **sums, order=0)
      ...     writer.write_dead_fraction("dense_1", 3, **sums)
    """

    def __init__(self, log_dir=None, *, writer=None, flush_secs=120, filename_suffix=".deadrelu"):
        """Opens the writer.

        Args:
          log_dir: Directory of the run (created if missing); a new event
            file is created in it. Exactly one of ``log_dir`` and ``writer``.
          writer: An existing event writer to write into: a
            ``torch.utils.tensorboard.SummaryWriter``, a TensorBoard
            ``EventFileWriter``, or any object with ``add_event(event)`` (and
            optionally ``flush()``).
          flush_secs: With ``log_dir``: a write flushes the file when the
            previous flush is older than this; :meth:`flush` and
            :meth:`close` always flush.
          filename_suffix: With ``log_dir``: appended to the event file's
            name. The default keeps it apart from the name a
            ``SummaryWriter`` (which overwrites a file of its name) might
            pick in the same second.

        Raises:
          ValueError: neither or both of ``log_dir`` and ``writer``, or a
            ``writer`` without ``add_event``.
        """
        if (log_dir is None) == (writer is None):
            raise ValueError("give exactly one of log_dir and writer, got log_dir=%r, writer=%r" % (log_dir, writer))
        if log_dir is not None:
            if not isinstance(log_dir, str) and not hasattr(log_dir, "__fspath__"):
                raise ValueError("log_dir must be a path, got %r" % (log_dir,))
            self._owned = _open_event_file(os.fspath(log_dir), flush_secs, filename_suffix)
            self._add_event = self._owned.add_event
            self._flush = self._owned.flush
            self.log_dir = os.fspath(log_dir)
        else:
            self._owned = None
            self._add_event = _event_sink(writer)
            self._flush = getattr(writer, "flush", lambda: None)
            get_logdir = getattr(writer, "get_logdir", None)
            self.log_dir = get_logdir() if callable(get_logdir) else None
        self._closed = False

    def write_summary(self, summary_proto, step, wall_time=None):
        """Writes a ``Summary`` proto (e.g. from :func:`summary.activations_pb`) at ``step``."""
        if self._closed:
            raise ValueError("this RecordWriter is closed")
        event = event_pb2.Event(
            step=_check_step(step),
            wall_time=time.time() if wall_time is None else float(wall_time),
            summary=summary_proto,
        )
        self._add_event(event)

    def write_record(
        self,
        tag,
        step,
        count,
        zeros,
        abs_sum,
        nonfinite,
        *,
        kind=metadata.KIND_ACTIVATIONS,
        order=None,
        description=None,
    ):
        """Writes one Dead ReLU record: a layer's sums at ``step``.

        Args:
          tag: The layer's tag. A record of ``kind="gradients"`` is written
            under ``<tag>/gradients`` (:func:`metadata.gradients_tag`), one
            of ``kind="recycled"`` under ``<tag>/recycled``
            (:func:`metadata.recycled_tag`), the tags the tab pairs with the
            layer's activations; pass the layer's tag for every kind.
          step: int >= 0.
          count: Values observed per unit (int).
          zeros: Per-unit counts of values exactly 0, shape ``[units]``.
          abs_sum: Per-unit sums of ``|value|`` over finite values, ``[units]``.
          nonfinite: Per-unit NaN/Inf counts, ``[units]`` (or a scalar 0).
          kind: :data:`metadata.KIND_ACTIVATIONS` (layer outputs),
            :data:`metadata.KIND_GRADIENTS` (d loss / d pre-activation) or
            :data:`metadata.KIND_RECYCLED` (units reset at ``step``, see
            :func:`metadata.recycled_sums`).
          order: Optional int, the layer's position in its model (the tab
            shows layers in this order).
          description: Optional markdown shown with the series.

        Raises:
          ValueError: inconsistent sums, a bad step, tag or kind; the message
            names the argument.
        """
        if kind not in metadata.KNOWN_KINDS:
            raise ValueError("kind must be one of %r, got %r" % (metadata.KNOWN_KINDS, kind))
        if kind == metadata.KIND_GRADIENTS and isinstance(tag, str):
            tag = metadata.gradients_tag(tag)
        elif kind == metadata.KIND_RECYCLED and isinstance(tag, str):
            tag = metadata.recycled_tag(tag)
        record = metadata.summary_pb(
            tag,
            count,
            np.asarray(zeros),
            np.asarray(abs_sum),
            np.asarray(nonfinite),
            description=description,
            order=order,
            kind=kind,
        )
        self.write_summary(record, step)

    def write_scalar(self, tag, value, step, description=None):
        """Writes a scalar (the Scalars tab's format, as ``tf.summary.scalar`` writes it)."""
        if not isinstance(tag, str) or not tag:
            raise ValueError("tag must be a non-empty string, got %r" % (tag,))
        self.write_summary(scalar_summary.scalar_pb(tag, value, description=description), step)

    def write_dead_fraction(self, tag, step, count, zeros, abs_sum, nonfinite):
        """Writes layer ``tag``'s share of dead units as the scalar :func:`dead_fraction_tag`.

        Takes the sums of the layer's record (as :meth:`write_record`); dead
        is :attr:`metadata.Record.dead`, so a record with ``count`` 0 has no
        dead unit.

        Returns:
          ``(dead, units)``: the number of dead units and of units.
        """
        record = metadata.Record(
            count=int(count), zeros=np.asarray(zeros), abs_sum=np.asarray(abs_sum), nonfinite=np.asarray(nonfinite)
        )
        dead, units = int(np.count_nonzero(record.dead)), record.units
        self.write_scalar(dead_fraction_tag(tag), dead / units if units else 0.0, step)
        return dead, units

    def flush(self):
        """Makes everything written so far visible to TensorBoard."""
        self._flush()

    def close(self):
        """Flushes; closes the event file if this writer opened it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owned is not None:
            self._owned.close()
        else:
            self._flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
