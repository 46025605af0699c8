"""Bytes on disk per unit per record (target <= 10) for 1024-unit layers.

Writes 100 steps x 3 layers of ReLU activations (batch 256, 1024 units) with
each writer and prints event file size / (records x units):

* ``summary.activations`` (TensorFlow summary writer);
* ``Accumulator.write`` (one record per layer per "epoch");
* ``activations_pb`` through TensorBoard's ``EventFileWriter`` (no TensorFlow,
  what PyTorch's ``SummaryWriter`` does).

The file size includes everything TensorBoard needs: event framing, tags,
plugin metadata and the file's header event.

Run: python benchmarks/bench_record_size.py
"""

import glob
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from tensorboard.compat.proto import event_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from tensorboard_plugin_deadrelu.writing import summary

STEPS = 100
LAYERS = ("dense_1", "dense_2", "dense_3")
UNITS = 1024
BATCH = 256
TARGET = 10.0


def event_bytes(run_dir):
    return sum(os.path.getsize(p) for p in glob.glob(os.path.join(run_dir, "*tfevents*")))


def main():
    rng = np.random.default_rng(0)
    batches = [np.maximum(rng.normal(size=(BATCH, UNITS)), 0).astype(np.float32) for _ in range(8)]
    logdir = tempfile.mkdtemp(prefix="deadrelu_size_")
    records = STEPS * len(LAYERS)

    run = os.path.join(logdir, "activations")
    writer = tf.summary.create_file_writer(run)
    with writer.as_default():
        for step in range(STEPS):
            for i, name in enumerate(LAYERS):
                summary.activations(name, batches[(step + i) % len(batches)], step=step)
    writer.close()
    sizes = {"summary.activations": event_bytes(run)}

    run = os.path.join(logdir, "accumulator")
    writer = tf.summary.create_file_writer(run)
    accumulator = summary.Accumulator()
    with writer.as_default():
        for step in range(STEPS):
            for i, name in enumerate(LAYERS):
                accumulator.update(name, batches[(step + i) % len(batches)])
            accumulator.write(step=step)
    writer.close()
    sizes["Accumulator.write"] = event_bytes(run)

    run = os.path.join(logdir, "numpy")
    writer = EventFileWriter(run)
    for step in range(STEPS):
        event = event_pb2.Event(step=step, wall_time=1_600_000_000.0 + step)
        for i, name in enumerate(LAYERS):
            event.summary.value.extend(summary.activations_pb(name, batches[(step + i) % len(batches)]).value)
        writer.add_event(event)
    writer.close()
    sizes["activations_pb + EventFileWriter"] = event_bytes(run)

    print("(c) bytes on disk per unit per record: %d records of %d units each (target <= %.0f)" % (records, UNITS, TARGET))
    for name, size in sizes.items():
        per_unit = size / (records * UNITS)
        print("  %-36s %9d bytes -> %.3f bytes/unit/record (%s)" % (name, size, per_unit, "met" if per_unit <= TARGET else "MISSED"))


if __name__ == "__main__":
    main()
