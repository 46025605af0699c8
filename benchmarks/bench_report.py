"""How fast ``deadrelu report`` reads a logdir, on synthetic logdirs of known size.

Builds two logdirs with the numpy writer (``summary.stats_pb`` + TensorBoard's
``EventFileWriter``; one event file per run, every layer written at every step
as a training loop would):

* ``experiments``: the size of the article's experiments full run,
  25 runs x 3 layers x 100 epochs x 64 units (7,500 records);
* ``big``: 10 runs x 5 layers x 1,000 steps x 1,024 units (50,000 records,
  about 420 MB).

Then times, each in a fresh interpreter (so imports count, as for a user):

* ``command``: the installed ``deadrelu report LOGDIR --json`` as users run it
  (the reader chosen automatically);
* ``python``: ``build_report(reader="python")``, TensorBoard's pure-Python
  TFRecord reader, no TensorFlow;
* ``tensorflow``: ``build_report(reader="tensorflow")``, TensorBoard's loader
  with TensorFlow's C++ reader (includes importing TensorFlow).

and prints wall seconds, records/s and MB/s, and CPU seconds (user + system,
workers included) with records per CPU-second, each the best of ``--rounds``.
On a busy shared machine the CPU figures are the steadier ones.

Usage::

    python benchmarks/bench_report.py                 # both logdirs, in a temp folder
    python benchmarks/bench_report.py --sizes experiments --rounds 3
    python benchmarks/bench_report.py --dir /tmp/deadrelu_bench   # keep/reuse the logdirs
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from tensorboard.compat.proto import event_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from tensorboard_plugin_deadrelu.writing import summary

SIZES = {
    "experiments": dict(runs=25, layers=3, steps=100, units=64, batch=256),
    "big": dict(runs=10, layers=5, steps=1000, units=1024, batch=256),
}


def build_logdir(path, runs, layers, steps, units, batch, seed=0):
    """Writes a synthetic logdir; returns the number of records written."""
    rng = np.random.default_rng(seed)
    # A few prepared rows, cycled: generating fresh random data for 50,000
    # records would dominate the build time and does not change the reading.
    variants = []
    for _ in range(16):
        zeros = rng.integers(0, batch + 1, units)
        zeros[rng.random(units) < 0.2] = batch  # some dead units
        variants.append(
            {
                "count": batch,
                "zeros": zeros,
                "abs_sum": rng.random(units) * (batch - zeros),
                "nonfinite": np.zeros(units, np.int64),
            }
        )
    records = 0
    for run in range(runs):
        writer = EventFileWriter(os.path.join(path, "run_%02d" % run), max_queue_size=100)
        for step in range(steps):
            event = event_pb2.Event(step=step, wall_time=1_700_000_000.0 + step)
            for layer in range(layers):
                stats = variants[(run + step * layers + layer) % len(variants)]
                event.summary.value.extend(summary.stats_pb("dense_%d" % layer, **stats).value)
                records += 1
            writer.add_event(event)
        writer.close()
    return records


def logdir_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


_BUILD_REPORT = (
    "import sys\n"
    "from tensorboard_plugin_deadrelu import report\n"
    "result = report.build_report(sys.argv[1], reader=sys.argv[2], jobs=int(sys.argv[4]))\n"
    "assert result['totals']['records'] == int(sys.argv[3]), result['totals']\n"
)


def time_variant(variant, logdir, records, jobs):
    """Runs one variant in a fresh interpreter.

    Returns:
      ``(wall seconds, CPU seconds)``; the CPU time (user + system of the
      interpreter and its workers) is what a shared, busy machine disturbs least.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if variant == "command":
        script = shutil.which("deadrelu")
        if not script:
            raise SystemExit("the deadrelu console script is not installed (pip install -e .)")
        command = [script, "report", logdir, "--json"]
    else:
        command = [sys.executable, "-c", _BUILD_REPORT, logdir, variant, str(records), str(jobs)]
    cpu_before = _children_cpu_seconds()
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    cpu_seconds = _children_cpu_seconds() - cpu_before
    if done.returncode != 0:
        raise SystemExit("%s failed (exit %d):\n%s" % (variant, done.returncode, done.stderr))
    return seconds, cpu_seconds


def _children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["experiments", "big"])
    parser.add_argument("--variants", nargs="+", choices=["command", "python", "tensorflow"],
                        default=["command", "python", "tensorflow"])
    parser.add_argument("--rounds", type=int, default=1, help="runs per variant; the fastest counts")
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes for the python/tensorflow variants (the command chooses itself)")
    parser.add_argument("--dir", help="where to build the logdirs (reused when already there)")
    args = parser.parse_args()
    base = args.dir or tempfile.mkdtemp(prefix="deadrelu_bench_")
    try:
        for size in args.sizes:
            shape = SIZES[size]
            logdir = os.path.join(base, size)
            records = shape["runs"] * shape["layers"] * shape["steps"]
            if not os.path.isdir(logdir):
                start = time.perf_counter()
                written = build_logdir(logdir, **shape)
                assert written == records
                print("built %s in %.1f s" % (logdir, time.perf_counter() - start))
            megabytes = logdir_bytes(logdir) / 1e6
            print(
                "%s: %d runs x %d layers x %d steps x %d units = %d records, %.1f MB"
                % (size, shape["runs"], shape["layers"], shape["steps"], shape["units"], records, megabytes)
            )
            for variant in args.variants:
                times = [time_variant(variant, logdir, records, args.jobs) for _ in range(args.rounds)]
                wall = min(t[0] for t in times)
                cpu = min(t[1] for t in times)
                print(
                    "  %-10s wall %7.2f s  %7.0f records/s  %6.1f MB/s | CPU %7.2f s  %7.0f records/CPU-s"
                    "   (rounds wall: %s)"
                    % (variant, wall, records / wall, megabytes / wall, cpu, records / cpu,
                       " ".join("%.2f" % t[0] for t in times))
                )
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
