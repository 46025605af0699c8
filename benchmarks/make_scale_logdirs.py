"""Writes logdirs shaped like real networks, for ``bench_scale.py`` (not committed).

* ``resnet50``: five runs (``run_0`` .. ``run_4``) of ResNet-50's 49 ReLU layers
  at their real widths (22,720 units per run), 101 epochs (steps 0..100);
* ``transformer``: one run of a Transformer's 12 MLP layers x 3,072 units,
  1,000 records.

Records are written with the numpy twin (``summary.stats_pb``): per record
``count`` = probe images x the layer's spatial positions (tokens for the
Transformer), units dying progressively. Each run ends with a ``bench_done``
scalar: once TensorBoard lists it, the run's records are loaded.

Run once (a few minutes of one CPU), reuse the output:

    python benchmarks/make_scale_logdirs.py --out /tmp/scale
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from tensorboard.compat.proto import event_pb2  # noqa: E402
from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: E402

from tensorboard_plugin_deadrelu.writing import summary  # noqa: E402

DONE_TAG = "bench_done"
PROBE_IMAGES = 100
TOKENS_PER_RECORD = 32_768


def resnet50_relu_layers():
    """``[(name, units, spatial positions)]`` of ResNet-50's ReLUs, in model order, named as
    ``keras.applications.ResNet50`` names them: the stem, then per bottleneck block the
    ReLUs after its first two convolutions (width w) and after the residual add (4w)."""
    layers = [("conv1_relu", 64, 112 * 112)]
    for stage, (width, blocks, side) in enumerate([(64, 3, 56), (128, 4, 28), (256, 6, 14), (512, 3, 7)], start=2):
        for block in range(1, blocks + 1):
            prefix = "conv%d_block%d" % (stage, block)
            layers += [
                (prefix + "_1_relu", width, side * side),
                (prefix + "_2_relu", width, side * side),
                (prefix + "_out", 4 * width, side * side),
            ]
    return layers


RESNET50 = resnet50_relu_layers()
assert len(RESNET50) == 49 and sum(units for _, units, _ in RESNET50) == 22_720


class DyingLayer:
    """A layer whose units' zero share drifts up; a third of them die at a random step."""

    def __init__(self, rng, units, steps, count):
        self.rng, self.units, self.steps, self.count = rng, units, steps, count
        self.death = np.where(rng.random(units) < 1 / 3, rng.integers(1, steps, units), steps + 1)
        self.base = rng.random(units) * 0.6

    def record(self, step):
        """The record's sums at ``step`` (made when written: a long run's records would not fit in memory)."""
        share = np.clip(self.base + 0.3 * step / self.steps + self.rng.normal(0, 0.02, self.units), 0, 0.999)
        zeros = (share * self.count).astype(np.int64)
        zeros[self.death <= step] = self.count
        abs_sum = ((self.count - zeros) * self.rng.random(self.units) * 2).astype(np.float32)
        return {"count": self.count, "zeros": zeros, "abs_sum": abs_sum, "nonfinite": np.zeros(self.units, np.int64)}


def write_run(run_dir, layers, steps, seed):
    """Writes one run: all layers' records step by step (as a training job does), then ``bench_done``."""
    rng = np.random.default_rng(seed)
    dying = [DyingLayer(rng, units, steps, count) for _, units, count in layers]
    writer = EventFileWriter(run_dir, max_queue_size=1000)
    for step in range(steps):
        for order, ((name, _, _), layer) in enumerate(zip(layers, dying)):
            pb = summary.stats_pb(name, order=order, **layer.record(step))
            event = event_pb2.Event(step=step, wall_time=1_700_000_000.0 + step)
            event.summary.CopyFrom(pb)
            writer.add_event(event)
    done = event_pb2.Event(step=steps, wall_time=1_700_000_000.0 + steps)
    done.summary.value.add(tag=DONE_TAG, simple_value=1.0)
    writer.add_event(done)
    writer.close()


def folder_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/scale")
    parser.add_argument("--resnet-runs", type=int, default=5)
    parser.add_argument("--resnet-epochs", type=int, default=101)
    parser.add_argument("--transformer-records", type=int, default=1000)
    args = parser.parse_args()
    resnet = [(name, units, PROBE_IMAGES * spatial) for name, units, spatial in RESNET50]
    transformer = [("block_%d/mlp" % i, 3072, TOKENS_PER_RECORD) for i in range(12)]
    for folder, layers, steps, runs in [
        ("resnet50", resnet, args.resnet_epochs, args.resnet_runs),
        ("transformer", transformer, args.transformer_records, 1),
    ]:
        for run in range(runs):
            run_dir = os.path.join(args.out, folder, "run_%d" % run)
            if os.path.isdir(run_dir):
                print("exists, kept:", run_dir)
                continue
            start = time.perf_counter()
            write_run(run_dir + ".partial", layers, steps, seed=run)
            os.rename(run_dir + ".partial", run_dir)
            print("%s: %d layers x %d steps, %.1f MB in %.0f s"
                  % (run_dir, len(layers), steps, folder_bytes(run_dir) / 1e6, time.perf_counter() - start), flush=True)
        print("%s: %.1f MB of event files" % (folder, folder_bytes(os.path.join(args.out, folder)) / 1e6))


if __name__ == "__main__":
    main()
