"""The Dead ReLU API on logs shaped like real networks, through a real TensorBoard.

Needs the logdirs of ``make_scale_logdirs.py`` (five ResNet-50 runs; a
Transformer-MLP run). For each, starts TensorBoard (fast loader, loading once)
beside a TensorBoard on an empty logdir, and prints:

* start -> everything listed (the ``bench_done`` scalar written after every
  run's records is listed for every run);
* the widest layer's binary heatmap (``zeros``) cold, as the very first plugin
  request (no listing before it), and warm;
* the tab's first request, ``tags``, cold and warm;
* ``overview`` of one run (every layer of it is read) cold and warm;
* resident memory TensorBoard adds over the empty-logdir TensorBoard (process
  and data server), as a ratio to the event files' bytes: after loading, and
  after viewing every layer of one run (binary ``zeros`` and ``abs_sum`` of each);
  against the plugin's cache limit.

Warm figures are the fastest and the median of ``--repeats`` requests.

Run: python benchmarks/bench_scale.py --scale /tmp/scale [--repeats 5] [--only resnet50,transformer]
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from bench_http import fetch, rss_bytes  # noqa: E402
from make_scale_logdirs import DONE_TAG, folder_bytes  # noqa: E402
from tests import tensorboard_process  # noqa: E402

from tensorboard_plugin_deadrelu.server import options
from tensorboard_plugin_deadrelu.server import encoding
from tensorboard_plugin_deadrelu.server import loader  # noqa: E402

ROUTE = "/data/plugin/deadrelu/"


def own_rss(pid):
    """Resident memory of ``pid`` alone (TensorBoard's Python process, where the plugin runs)."""
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def flags(cache_mb):
    return ["--load_fast=true", "--reload_interval=0", "--deadrelu_cache_mb=%d" % cache_mb]


def wait_listed(server, runs, timeout=1800):
    def listed():
        _, body = fetch(server.url + "/data/plugin/scalars/tags")
        tags = json.loads(body)
        return all(DONE_TAG in tags.get(run, {}) for run in runs)

    tensorboard_process.wait_until(listed, "every run listed", timeout, processes=[server.process], interval=0.2)


def timed(url, repeats):
    """``(cold seconds, warm min, warm median, body of the cold request)``."""
    cold, body = fetch(url)
    warm = [fetch(url)[0] for _ in range(repeats)]
    return cold, min(warm), statistics.median(warm), body


def print_timing(what, timing, extra=""):
    cold, warm_min, warm_median, body = timing
    print("  %-44s cold %7.3f s   warm %7.4f s (median %.4f)   %9d bytes %s"
          % (what, cold, warm_min, warm_median, len(body), extra))


def widest_layer(logdir, runs):
    """``(run, tag, units)`` of the widest layer, from the event files' listing of ``make_scale_logdirs``."""
    from make_scale_logdirs import RESNET50

    if os.path.basename(logdir.rstrip("/")) == "resnet50":
        name, units, _ = max(RESNET50, key=lambda layer: layer[1])
        return runs[-1], name, units
    return runs[-1], "block_11/mlp", 3072


def measure(logdir, empty_logdir, repeats, cache_mb):
    runs = sorted(d for d in os.listdir(logdir) if os.path.isdir(os.path.join(logdir, d)))
    event_bytes = folder_bytes(logdir)
    print("\n%s: %d run(s), %.1f MB of event files, --deadrelu_cache_mb=%d"
          % (logdir, len(runs), event_bytes / 1e6, cache_mb))
    with contextlib.ExitStack() as stack:
        empty = stack.enter_context(tensorboard_process.running(empty_logdir, *flags(cache_mb)))
        started = time.perf_counter()
        server = stack.enter_context(tensorboard_process.running(logdir, *flags(cache_mb)))
        wait_listed(server, runs)
        print("  start -> everything listed: %.1f s" % (time.perf_counter() - started))
        tensorboard_process.wait_until(lambda: fetch(empty.url + "/data/plugins_listing"), "empty tensorboard", 120)
        time.sleep(2)
        baseline = rss_bytes(empty.process.pid)
        loaded = rss_bytes(server.process.pid)
        python_baseline, python_loaded = own_rss(empty.process.pid), own_rss(server.process.pid)

        run, tag, units = widest_layer(logdir, runs)
        url = server.url + ROUTE + "heatmap?run=%s&tag=%s&format=binary&field=zeros" % (run, tag)
        timing = timed(url, repeats)
        header, _ = encoding.decode_binary(timing[3])
        print_timing("widest layer, binary zeros (%s, %d units)" % (tag, units), timing,
                     "%s, %d steps" % (header["dtype"], len(header["steps"])))
        timing = timed(server.url + ROUTE + "tags", repeats)
        tags = json.loads(timing[3])
        print_timing("tags (%d runs, %d layers)" % (len(tags), sum(len(t) for t in tags.values())), timing)
        timing = timed(server.url + ROUTE + "overview?run=" + runs[0], repeats)
        print_timing("overview of %s (%d layers)" % (runs[0], len(json.loads(timing[3])["layers"])), timing)

        started = time.perf_counter()
        for layer in tags[runs[0]]:
            for field in ("zeros", "abs_sum"):
                fetch(server.url + ROUTE + "heatmap?run=%s&tag=%s&format=binary&field=%s" % (runs[0], layer, field))
        viewed_seconds = time.perf_counter() - started
        viewed = rss_bytes(server.process.pid)
        python_viewed = own_rss(server.process.pid)

        def added(rss):
            return "+%.0f MB = %.2fx the event files" % ((rss - baseline) / 1e6, (rss - baseline) / event_bytes)

        print("  every layer of %s viewed (binary zeros + abs_sum) in %.1f s" % (runs[0], viewed_seconds))
        print("  resident memory: empty logdir %.0f MB; after loading %s; after viewing every layer of %s %s"
              " (plugin cache limit %d MB)" % (baseline / 1e6, added(loaded), runs[0], added(viewed), cache_mb))
        print("  of which TensorBoard's Python process (the plugin's home): +%.0f MB after loading, +%.0f MB after viewing"
              % ((python_loaded - python_baseline) / 1e6, (python_viewed - python_baseline) / 1e6))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="/tmp/scale", help="the --out folder of make_scale_logdirs.py")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="resnet50,transformer")
    parser.add_argument("--cache-mb", type=int, default=options.DEFAULT_CACHE_MB)
    args = parser.parse_args()
    empty = os.path.join(args.scale, "empty")
    os.makedirs(empty, exist_ok=True)
    for name in args.only.split(","):
        measure(os.path.join(args.scale, name), empty, args.repeats, args.cache_mb)


if __name__ == "__main__":
    main()
