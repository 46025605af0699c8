"""Reads Dead ReLU records straight from a logdir's event files.

This is the reading side of ``deadrelu report``: no TensorBoard server and no
TensorFlow, just the event files on a local disk, turned into one stacked
``series.Series`` per (run, layer tag), built by the same ``build_series`` that
stacks what TensorBoard's data provider hands the plugin.

It follows TensorBoard's rules, so the report and the tab agree:

* A *run* is a directory holding event files (names containing ``tfevents``),
  named by its path relative to the logdir (``"."`` for the logdir itself).
* A run's event files are read in name order, which is the order they were
  created in (the names start with a zero-padded timestamp).
* Within a (run, tag), a record whose step is not after the last step read
  replaces that step and discards the later steps read before it, as
  TensorBoard's fast loader does on a restart (resuming from a checkpoint, or
  a second ``fit()`` starting at step 0): **the later file wins**
  (``series.later_file_wins``, the one rule the plugin applies too).
* A record that does not parse, or whose plugin content has a version this
  reader does not know, is skipped and listed in its series' ``skipped`` (or
  in :attr:`RunContents.skipped` when it is not even a tensor). An event file
  whose tail is truncated or fails its checksum is read up to the damage and
  listed in :attr:`RunContents.damaged_files`.

Event files are parsed with TensorBoard's pure-Python TFRecord reader (its
TensorFlow stub), so TensorFlow is never needed. Remote logdirs (``gs://``,
``s3://``, any fsspec protocol) are read through TensorBoard's own file layer,
as TensorBoard reads them. On large logdirs, when
TensorFlow happens to be installed, TensorBoard's own loader with TensorFlow's
C++ reader is used instead: checking the records' CRC32C checksums in Python
costs more than importing TensorFlow once there is enough data.
"""

import collections
import dataclasses
import importlib.util
import os

from tensorboard.compat.proto import event_pb2
from tensorboard.data import provider
from tensorboard.util import tensor_util

from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.core import ordering
from tensorboard_plugin_deadrelu.core import series as series_lib

# Total event file size from which the "auto" reader switches to TensorFlow's
# reader, when TensorFlow is installed. Measured by benchmarks/bench_report.py:
# the pure-Python reader (CRC32C in Python) parses ~10 MB per CPU-second;
# importing TensorFlow costs ~3 CPU-seconds, after which its reader is ~10x faster.
TENSORFLOW_READER_MIN_BYTES = 64 * 1024 * 1024

READERS = ("auto", "python", "tensorflow")

# A TFRecord frames each record with an 8-byte length, a 4-byte length CRC and
# a 4-byte data CRC.
_RECORD_FRAMING_BYTES = 16


class LogdirError(ValueError):
    """The logdir cannot be read: it does not exist or is not a directory."""


@dataclasses.dataclass(frozen=True)
class SkippedRecord:
    """A Dead ReLU record that was not used, and why."""

    run: str
    tag: str
    step: int
    path: str
    reason: str


@dataclasses.dataclass(frozen=True)
class DamagedFile:
    """An event file whose end could not be read (truncated, or a checksum failed)."""

    path: str
    reason: str


@dataclasses.dataclass
class RunContents:
    """Everything read from one run's event files."""

    run: str
    # series.Series of every Dead ReLU tag, in model order (series.model_order_key). Records
    # that do not decode are listed in each Series.skipped; a series whose
    # records were all skipped has no steps.
    series: list
    # Records the reader could not even hand to series.build_series.
    skipped: list  # of SkippedRecord
    damaged_files: list  # of DamagedFile
    files: int = 0
    events: int = 0
    # Dead ReLU records found, including skipped and replaced ones.
    records: int = 0
    bytes: int = 0


def is_event_file(name):
    """Whether a file name is an event file that TensorBoard would read.

    The rule of TensorBoard's ``io_wrapper.IsSummaryEventsFile``, which cannot
    be called here because it imports TensorFlow when it is installed.
    """
    return "tfevents" in name and not name.endswith(".profile-empty")


def is_url(path):
    """Whether ``path`` names a remote (or otherwise non-local) location, e.g. ``gs://bucket/logs``."""
    return "://" in str(path)


def _remote_filesystem(url):
    """``(gfile, reader)`` for a URL: the gfile module TensorBoard would read it
    with, and the TFRecord reader that goes with it.

    TensorBoard's TensorFlow stub reads ``s3://`` and every protocol fsspec
    knows (``gs://`` with gcsfs, ``memory://``, ...); other schemes need
    TensorFlow's own file systems, as TensorBoard then uses them.
    """
    from tensorboard.compat.tensorflow_stub.io import gfile as stub_gfile

    try:
        stub_gfile.get_filesystem(url)
        return stub_gfile, "python"
    except (ValueError, ImportError) as stub_error:
        if importlib.util.find_spec("tensorflow") is None:
            raise LogdirError("cannot read %s: %s (TensorFlow's file systems are not installed either)" % (url, stub_error)) from None
    import tensorflow as tf  # only for schemes the stub cannot read

    return tf.io.gfile, "tensorflow"


def file_size(path):
    """Size in bytes of a local or remote file."""
    if not is_url(path):
        return os.path.getsize(path)
    gfile, _ = _remote_filesystem(path)
    return gfile.stat(path).length


def find_runs(logdir):
    """Returns ``{run: [event file paths in name order]}`` for every run under ``logdir``.

    ``logdir`` is a local folder or a URL TensorBoard reads (``gs://``,
    ``s3://``, any fsspec protocol); runs come in natural name order
    (``run_2`` before ``run_10``), as the tab shows them.

    Raises:
      LogdirError: ``logdir`` does not exist or is not a directory.
    """
    if is_url(logdir):
        gfile, _ = _remote_filesystem(logdir)
        exists, isdir, walk, join = gfile.exists, gfile.isdir, gfile.walk, _url_join
    else:
        exists, isdir, walk, join = os.path.exists, os.path.isdir, os.walk, os.path.join
    if not exists(logdir):
        raise LogdirError("logdir %s does not exist" % logdir)
    if not isdir(logdir):
        raise LogdirError("logdir %s is not a directory" % logdir)
    root = str(logdir).rstrip("/") if is_url(logdir) else logdir
    runs = {}
    for directory, subdirectories, files in walk(root):
        event_files = sorted(f for f in files if is_event_file(f))
        if event_files:
            runs[_relative_run(directory, root)] = [join(directory, f) for f in event_files]
    return {run: runs[run] for run in sorted(runs, key=ordering.natural_key)}


def _url_join(directory, name):
    return str(directory).rstrip("/") + "/" + name


def _relative_run(directory, root):
    if not is_url(root):
        return os.path.relpath(directory, root)
    # fsspec may hand back directories without the protocol prefix.
    directory = str(directory).rstrip("/")
    root_path = root.split("://", 1)[1]
    for prefix in (root, root_path, "/" + root_path.lstrip("/")):
        if directory == prefix:
            return "."
        if directory.startswith(prefix + "/"):
            return directory[len(prefix) + 1 :]
    return directory


def choose_reader(runs, reader="auto"):
    """Returns ``"python"`` or ``"tensorflow"``: which TFRecord reader to use for ``runs``.

    Args:
      runs: As returned by :func:`find_runs`.
      reader: ``"auto"`` (TensorFlow's reader only for logdirs of at least
        :data:`TENSORFLOW_READER_MIN_BYTES` and only when TensorFlow is
        installed; for a URL, the reader of the file system that reads it),
        ``"python"`` or ``"tensorflow"``.
    """
    if reader not in READERS:
        raise ValueError("reader must be one of %r, got %r" % (READERS, reader))
    if reader != "auto":
        return reader
    paths = [p for paths in runs.values() for p in paths]
    if paths and is_url(paths[0]):
        return _remote_filesystem(paths[0])[1]
    if importlib.util.find_spec("tensorflow") is None:
        return "python"
    total = sum(file_size(p) for p in paths)
    return "tensorflow" if total >= TENSORFLOW_READER_MIN_BYTES else "python"


def read_run(run, paths, reader="python"):
    """Reads one run's event files into a :class:`RunContents`.

    Args:
      run: The run's name (used in the result only).
      paths: The run's event files, oldest first (as :func:`find_runs` gives them).
      reader: ``"python"`` or ``"tensorflow"`` (see :func:`choose_reader`).
    """
    contents = RunContents(run=run, series=[], skipped=[], damaged_files=[])
    accumulator = _RunAccumulator(contents)
    for path in paths:
        contents.files += 1
        contents.bytes += file_size(path)
        for raw in _serialized_events(path, reader, contents.damaged_files):
            contents.events += 1
            try:
                event = event_pb2.Event.FromString(raw)
            except Exception as e:  # protobuf's DecodeError; a CRC-valid but foreign record
                contents.damaged_files.append(DamagedFile(path, "an event does not parse: %s" % e))
                continue
            if event.HasField("summary"):
                accumulator.add_event(event, path)
    contents.series = accumulator.stacked()
    return contents


def read_logdir(logdir, reader="auto"):
    """Returns an iterator of one :class:`RunContents` per run under ``logdir``.

    Runs come in name order and are read one at a time as the iterator
    advances, so the memory held is that of the largest run.

    Args:
      logdir: A local directory or a URL (see :func:`find_runs`).
      reader: Which TFRecord reader to use; see :func:`choose_reader`.

    Raises:
      LogdirError: ``logdir`` does not exist or is not a directory.
    """
    runs = find_runs(logdir)
    chosen = choose_reader(runs, reader)
    return (read_run(run, paths, chosen) for run, paths in runs.items())


class _RunAccumulator:
    """Collects one run's records per tag as TensorBoard's data provider would
    hand them to the plugin, then stacks them with ``series.build_series`` so
    the report and the tab share one definition of a series."""

    def __init__(self, contents):
        self._contents = contents
        # tag -> TensorDatum list in reading order; series.build_series applies
        # "the later file wins" to it.
        self._data = collections.defaultdict(list)
        # tag -> the tag's first metadata with a plugin name: TensorBoard's
        # rule, for writers that send metadata only with a tag's first value.
        self._tag_metadata = {}

    def add_event(self, event, path):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name:
                tag_metadata = self._tag_metadata.setdefault(value.tag, value.metadata)
            else:
                tag_metadata = self._tag_metadata.get(value.tag)
            if tag_metadata is None or tag_metadata.plugin_data.plugin_name != metadata.PLUGIN_NAME:
                continue
            self._contents.records += 1
            try:
                array = _tensor_to_ndarray(value)
            except metadata.RecordError as e:
                self._contents.skipped.append(
                    SkippedRecord(run=self._contents.run, tag=value.tag, step=int(event.step), path=path, reason=str(e))
                )
                continue
            self._data[value.tag].append(
                provider.TensorDatum(step=int(event.step), wall_time=event.wall_time, numpy=array)
            )

    def stacked(self):
        """Returns the run's ``series.Series`` in model order."""
        result = []
        for tag, tag_metadata in self._tag_metadata.items():
            if tag_metadata.plugin_data.plugin_name != metadata.PLUGIN_NAME:
                continue
            data = self._data.get(tag, [])
            time_series = provider.TensorTimeSeries(
                max_step=max((d.step for d in data), default=None),
                max_wall_time=max((d.wall_time for d in data), default=None),
                plugin_content=tag_metadata.plugin_data.content,
                description=tag_metadata.summary_description,
                display_name=tag_metadata.display_name,
            )
            # Every step read is kept: no reservoir sampling here.
            result.append(series_lib.build_series(self._contents.run, tag, time_series, data, sample_limit=None))
        result.sort(key=lambda s: ordering.model_order_key(s.order, s.tag))
        return result


def _tensor_to_ndarray(value):
    if value.WhichOneof("value") != "tensor":
        raise metadata.RecordError("the summary value holds no tensor")
    try:
        return tensor_util.make_ndarray(value.tensor)
    except Exception as e:  # unknown dtype, or a shape that does not match the content
        raise metadata.RecordError("the record tensor does not parse: %s" % e) from None


def read_events(path, damaged_files, reader="python"):
    """Yields every event of one event file as an ``event_pb2.Event``.

    For readers of summaries other than Dead ReLU records (the experiments'
    result table reads its loss scalars with it), with the same file
    handling as :func:`read_run` and no TensorFlow needed.

    Args:
      path: An event file.
      damaged_files: A list; a :class:`DamagedFile` is appended when the
        file's tail is truncated, fails its checksum or holds an event that
        does not parse (reading stops there).
      reader: ``"python"`` or ``"tensorflow"`` (see :func:`choose_reader`).
    """
    for raw in _serialized_events(path, reader, damaged_files):
        try:
            yield event_pb2.Event.FromString(raw)
        except Exception as e:  # protobuf's DecodeError; a CRC-valid but foreign record
            damaged_files.append(DamagedFile(path, "an event does not parse: %s" % e))
            return


def _serialized_events(path, reader, damaged_files):
    """Yields the serialized events of one file; notes a damaged tail in ``damaged_files``."""
    if reader == "tensorflow":
        yield from _serialized_events_tensorflow(path, damaged_files)
    else:
        yield from _serialized_events_python(path, damaged_files)


def _serialized_events_python(path, damaged_files):
    # Imported here: TensorBoard's stub is only needed on this path.
    from tensorboard.compat.tensorflow_stub import errors as stub_errors
    from tensorboard.compat.tensorflow_stub import pywrap_tensorflow as stub

    reader = stub.PyRecordReader_New(os.fsencode(path))
    try:
        while True:
            try:
                reader.GetNext()
            except stub_errors.OutOfRangeError:
                return
            except stub_errors.DataLossError as e:
                # The stub's message starts with the file name as bytes; the
                # DamagedFile names the file already.
                prefix = "%s " % (reader.filename,)
                reason = e.message[len(prefix):] if e.message.startswith(prefix) else e.message
                damaged_files.append(DamagedFile(path, reason))
                return
            yield reader.record()
    finally:
        reader.file_handle.close()


def _serialized_events_tensorflow(path, damaged_files):
    from tensorboard.backend.event_processing import event_file_loader

    # TensorBoard's loader stops quietly at a damaged tail; the bytes it did
    # not consume tell us.
    consumed = 0
    for raw in event_file_loader.RawEventFileLoader(path).Load():
        consumed += len(raw) + _RECORD_FRAMING_BYTES
        yield raw
    size = file_size(path)
    if consumed < size:
        damaged_files.append(
            DamagedFile(path, "the last %d bytes are truncated or fail their checksum" % (size - consumed))
        )
