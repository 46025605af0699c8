"""How fast and how big the Dead ReLU HTTP API answers for one large layer.

Writes one run with a 4,096-unit layer over 1,000 steps (numpy writer), starts a
real ``tensorboard`` on it and prints, for each loader (``--load_fast=true`` /
``false``):

* cold: the first request after TensorBoard loaded the run (the plugin reads
  the series from the data provider, stacks and encodes it); warm: the fastest
  and median of repeated requests (cached per data version);
* bytes on the wire (no gzip: urllib does not ask for it) and bytes per cell,
  for the binary form (``zeros``, ``abs_sum``) and the JSON form;
* resident memory the run adds to TensorBoard (its process and, with the fast
  loader, the data server): RSS serving this run minus RSS serving an empty
  logdir, as a ratio to the raw array (units x steps x 4 bytes = 16.4 MB).

Then, in this process and interleaved (``ab.compare``), the JSON encoder against
the standard library's floor for the same numbers, ``json.dumps(arr.tolist())``
per array.

Run: python benchmarks/bench_http.py [--units 4096] [--steps 1000] [--repeats 5]
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import ab  # noqa: E402
from tensorboard.compat.proto import event_pb2  # noqa: E402
from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: E402

from tensorboard_plugin_deadrelu.server import encoding
from tensorboard_plugin_deadrelu.core import series  # noqa: E402
from tensorboard_plugin_deadrelu.server import reader as reader_lib
from tests import tensorboard_process  # noqa: E402
from tests.eventfiles import write_records  # noqa: E402

COUNT = 50_000  # values per unit per record: an epoch of 50k examples -> uint16 cells
TAG = "dense"
DONE_TAG = "bench_done"


def layer_stats(units, steps):
    """Per-step sums of a layer whose units die progressively."""
    rng = np.random.default_rng(0)
    death = rng.integers(0, steps * 2, units)
    out = []
    for step in range(steps):
        zeros = rng.integers(0, COUNT // 2, units)
        zeros[death <= step] = COUNT
        abs_sum = (rng.random(units) * (COUNT - zeros)).astype(np.float32)
        out.append((step, {"count": COUNT, "zeros": zeros, "abs_sum": abs_sum, "nonfinite": np.zeros(units, np.int64)}))
    return out


def write_logdir(root, units, steps):
    run = os.path.join(root, "big")
    write_records(run, TAG, layer_stats(units, steps))
    # A scalar written after the layer: once TensorBoard lists it, the layer is loaded.
    writer = EventFileWriter(run)
    event = event_pb2.Event(step=steps, wall_time=time.time())
    event.summary.value.add(tag=DONE_TAG, simple_value=1.0)
    writer.add_event(event)
    writer.close()


def rss_bytes(pid):
    """Resident memory of ``pid`` and all its descendants."""
    total = 0
    pending = [pid]
    while pending:
        p = pending.pop()
        try:
            with open("/proc/%d/status" % p) as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
            for task in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, task)) as f:
                    pending.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            pass
    return total


def tensorboard(logdir, load_fast):
    """A context manager: TensorBoard on ``logdir`` with ``--load_fast=load_fast``, no reloading."""
    return tensorboard_process.running(logdir, "--load_fast=" + load_fast, "--reload_interval=0")


def fetch(url):
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        body = response.read()
        status = response.status
    elapsed = time.perf_counter() - start
    assert status == 200, status
    return elapsed, body


def wait_for(server, has_run):
    """Waits until TensorBoard answers and, if ``has_run``, lists the scalar written after the layer."""

    def loaded():
        _, body = fetch(server.url + "/data/plugin/scalars/tags")
        return not has_run or DONE_TAG in json.loads(body).get("big", {})

    tensorboard_process.wait_until(loaded, "tensorboard to load the run", timeout=600, processes=[server.process])


def measure_server(logdir, empty_logdir, load_fast, units, steps, repeats):
    raw_bytes = units * steps * 4
    cells = units * steps
    with tensorboard(empty_logdir, load_fast) as server:
        wait_for(server, has_run=False)
        time.sleep(2)
        baseline_rss = rss_bytes(server.process.pid)
    with tensorboard(logdir, load_fast) as server:
        wait_for(server, has_run=True)
        time.sleep(2)
        loaded_rss = rss_bytes(server.process.pid)
        heatmap = server.url + "/data/plugin/deadrelu/heatmap?run=big&tag=" + TAG
        forms = {
            "binary zeros": heatmap + "&format=binary&field=zeros",
            "binary abs_sum": heatmap + "&format=binary&field=abs_sum",
            "JSON (all three arrays)": heatmap,
        }
        print("\n--load_fast=%s" % load_fast)
        print("  %-26s %9s %9s %9s %12s %9s" % ("form", "cold s", "warm min", "warm med", "bytes", "B/cell"))
        rss_after = {}
        for name, url in forms.items():
            cold, body = fetch(url)
            warm = [fetch(url)[0] for _ in range(repeats)]
            print("  %-26s %9.3f %9.4f %9.4f %12d %9.2f" % (name, cold, min(warm), statistics.median(warm), len(body), len(body) / cells))
            if name == "binary abs_sum":
                rss_after["binary"] = rss_bytes(server.process.pid)
        rss_after["JSON"] = rss_bytes(server.process.pid)
        header, array = encoding.decode_binary(fetch(forms["binary zeros"])[1])
        print("  (cold of the first form includes reading the series; binary zeros dtype %s)" % header["dtype"])
        print("  resident memory: empty logdir %.0f MB, run loaded %.0f MB (+%.1f MB = %.2fx raw %.1f MB)"
              % (baseline_rss / 1e6, loaded_rss / 1e6, (loaded_rss - baseline_rss) / 1e6, (loaded_rss - baseline_rss) / raw_bytes, raw_bytes / 1e6))
        for name, rss in rss_after.items():
            print("  after serving %-7s %.0f MB (+%.1f MB = %.2fx raw)" % (name, rss / 1e6, (rss - baseline_rss) / 1e6, (rss - baseline_rss) / raw_bytes))


def measure_encoders(units, steps, rounds):
    stats = layer_stats(units, steps)
    zeros = np.stack([s["zeros"] for _, s in stats]).astype(np.uint16)
    abs_sum = np.stack([s["abs_sum"] for _, s in stats]).astype(np.float32)
    s = series.Series(
        run="big", tag=TAG, description="", kind="activations", order=None,
        steps=np.arange(steps), wall_times=np.arange(steps, dtype=np.float64), count=np.full(steps, COUNT),
        zeros=zeros, abs_sum=abs_sum, nonfinite=np.broadcast_to(np.zeros((), np.uint16), zeros.shape),
        skipped=(), sample_limit=2000, downsampled=False,
    )
    nonfinite = np.zeros((steps, units), np.int32)

    def plugin_json():
        encoding.heatmap_json(s)

    variants = {
        "stdlib: json.dumps(x.tolist()) x3": lambda: (json.dumps(zeros.tolist()), json.dumps(abs_sum.tolist()), json.dumps(nonfinite.tolist())),
        "plugin JSON, uncached": plugin_json,
        "stdlib: zeros only": lambda: json.dumps(zeros.tolist()),
        "plugin: zeros only": lambda: encoding.int_matrix_json(zeros),
        "plugin binary zeros": lambda: encoding.heatmap_binary(s, "zeros"),
    }
    print("\nIn-process encoders, %d x %d, fastest of %d interleaved rounds:" % (steps, units, rounds))
    times = ab.compare(variants, rounds=rounds, warmup=0)
    ab.print_ratios(times, baseline="stdlib: json.dumps(x.tolist()) x3", targets={"plugin JSON, uncached": 1.0})
    print("zeros only: plugin %.4f s vs stdlib %.4f s (ratio %.2f)"
          % (times["plugin: zeros only"]["min"], times["stdlib: zeros only"]["min"], times["plugin: zeros only"]["min"] / times["stdlib: zeros only"]["min"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loaders", default="true,false", help="comma-separated --load_fast values")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="deadrelu-bench-http-")
    try:
        logdir, empty = os.path.join(root, "logs"), os.path.join(root, "empty")
        os.makedirs(empty)
        start = time.perf_counter()
        write_logdir(logdir, args.units, args.steps)
        print("%d units x %d steps, count %d per record; written in %.1f s" % (args.units, args.steps, COUNT, time.perf_counter() - start))
        for load_fast in args.loaders.split(","):
            measure_server(logdir, empty, load_fast, args.units, args.steps, args.repeats)
        measure_encoders(args.units, args.steps, rounds=3)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
