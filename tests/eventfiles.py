"""Test helpers: read records back through TensorBoard's own event reader, and
write fixture event files without TensorFlow."""

import collections
import glob
import os

from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import event_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.writing import summary


def read_events(logdir):
    """Yields ``(run, event)`` for every event under ``logdir``, run relative to it."""
    for path in sorted(glob.glob(os.path.join(logdir, "**", "*tfevents*"), recursive=True)):
        run = os.path.relpath(os.path.dirname(path), logdir)
        for event in event_file_loader.EventFileLoader(path).Load():
            yield run, event


def plugin_contents(logdir):
    """Returns ``{tag: PluginContent}`` (version, kind, order) of every Dead ReLU series in
    ``logdir``, parsed from its summary metadata (the last event of a tag wins)."""
    contents = {}
    for _, event in read_events(logdir):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == metadata.PLUGIN_NAME:
                contents[value.tag] = metadata.parse_plugin_content(value.metadata.plugin_data.content)
    return contents


def read_records(logdir):
    """Returns ``{(run, tag): [(step, Record), ...]}`` for every Dead ReLU record in ``logdir``."""
    records = collections.defaultdict(list)
    for run, event in read_events(logdir):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name not in ("", metadata.PLUGIN_NAME):
                continue
            if value.HasField("tensor") and value.tensor.dtype == 7:  # DT_STRING
                try:
                    record = metadata.decode_record(tensor_util.make_ndarray(value.tensor))
                except metadata.RecordError:
                    continue
                records[(run, value.tag)].append((event.step, record))
    return dict(records)


def write_summaries(run_dir, summaries_by_step, wall_time_offset=0):
    """Writes one event per ``(step, Summary proto)`` to a new event file in ``run_dir``
    (wall time ``1_600_000_000 + wall_time_offset + step``; a resumed job's file has a later one).

    The new file's name sorts after the run's existing event files, as a resumed
    writer's file would: TensorBoard reads a run's files in name order and skips
    one that sorts before the file it is reading.
    """
    pattern = os.path.join(run_dir, "*tfevents*")
    existing = glob.glob(pattern)
    writer = EventFileWriter(run_dir)
    for step, summary_pb in summaries_by_step:
        event = event_pb2.Event(step=step, wall_time=1_600_000_000.0 + wall_time_offset + step)
        event.summary.CopyFrom(summary_pb)
        writer.add_event(event)
    writer.close()
    (path,) = set(glob.glob(pattern)) - set(existing)
    # Names end in a process-wide writer counter, compared as text: within the same
    # second the 10th file ("....10") sorts before the 9th ("....9").
    if existing and path < max(existing):
        os.rename(path, max(existing) + ".next")


def write_records(run_dir, tag, stats_by_step, description=None, kind=metadata.KIND_ACTIVATIONS, wall_time_offset=0):
    """Writes one record per ``(step, stats)`` with the numpy writer; ``stats`` is a dict
    of count/zeros/abs_sum/nonfinite as returned by ``summary.reduce_activations_np``;
    ``kind`` is the series' record kind (``metadata.KIND_GRADIENTS`` for gradients)."""
    write_summaries(
        run_dir,
        [(step, summary.stats_pb(tag, description=description, kind=kind, **stats)) for step, stats in stats_by_step],
        wall_time_offset=wall_time_offset,
    )
