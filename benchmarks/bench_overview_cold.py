"""The whole-network view's server side, cold: every ResNet-50 run's ``overview`` at once.

The tab asks for the ``overview`` of every selected run as soon as it opens
(several requests in flight); on a TensorBoard that has just loaded the logdir
each answer reads every record of its run. This starts a fresh TensorBoard
(fast loader) per round on the five ResNet-50 runs of ``make_scale_logdirs.py``,
requests all five overviews at once as the tab does (``per_unit=0``), and
prints when the first and the last answer came, and the bytes per answer, then
the same warm. With ``--baseline DIR`` (a checkout of an earlier revision, e.g.
``git worktree add /tmp/base <rev>``), rounds alternate between that code
(TensorBoard started with ``PYTHONPATH=DIR``, so the plugin comes from there)
and this one, and the medians are printed side by side with their ratio.

Run: python benchmarks/bench_overview_cold.py --scale /tmp/scale [--rounds 2] [--baseline /tmp/base]
"""

import argparse
import concurrent.futures
import contextlib
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from bench_http import fetch  # noqa: E402
from bench_scale import ROUTE, flags, wait_listed  # noqa: E402
from tests import tensorboard_process  # noqa: E402

from tensorboard_plugin_deadrelu.server import options
from tensorboard_plugin_deadrelu.server import loader  # noqa: E402


@contextlib.contextmanager
def pythonpath(folder):
    """Makes TensorBoards started inside the block import the plugin from ``folder`` (None: this checkout)."""
    old = os.environ.get("PYTHONPATH")
    if folder:
        os.environ["PYTHONPATH"] = folder
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def all_at_once(url, runs, query):
    """``(seconds to the first answer, seconds to the last, bytes per answer)`` of every run's overview requested at once."""
    started = time.perf_counter()

    def one(run):
        _, body = fetch(url + ROUTE + "overview?run=" + run + query)
        return time.perf_counter() - started, len(body)

    with concurrent.futures.ThreadPoolExecutor(len(runs)) as pool:
        answers = list(pool.map(one, runs))
    return min(t for t, _ in answers), max(t for t, _ in answers), statistics.median(n for _, n in answers)


def one_round(logdir, runs, query, code):
    with pythonpath(code), tensorboard_process.running(logdir, *flags(options.DEFAULT_CACHE_MB)) as server:
        wait_listed(server, runs)
        fetch(server.url + ROUTE + "tags")
        cold = all_at_once(server.url, runs, query)
        warm = all_at_once(server.url, runs, query)
    return cold, warm


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="/tmp/scale", help="the --out folder of make_scale_logdirs.py")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", help="a checkout of an earlier revision to compare with (asked with its own tab's query)")
    parser.add_argument("--baseline-query", default="", help="the query the baseline's tab sent (default: none)")
    args = parser.parse_args()
    logdir = os.path.join(args.scale, "resnet50")
    runs = sorted(d for d in os.listdir(logdir) if os.path.isdir(os.path.join(logdir, d)) and not d.endswith(".partial"))
    variants = [("this checkout", "&per_unit=0", None)]
    if args.baseline:
        variants.insert(0, ("baseline " + args.baseline, args.baseline_query, args.baseline))
    figures = {name: [] for name, _, _ in variants}
    for _ in range(args.rounds):
        for name, query, code in variants:
            figures[name].append(one_round(logdir, runs, query, code))
    print("%d runs' overview requested at once, fresh TensorBoard per round, median of %d rounds:" % (len(runs), args.rounds))
    rows = [("cold: first answer (s)", lambda r: r[0][0]), ("cold: last answer (s)", lambda r: r[0][1]),
            ("warm: last answer (s)", lambda r: r[1][1]), ("bytes per answer", lambda r: r[0][2])]
    medians = {name: [statistics.median(pick(r) for r in figures[name]) for _, pick in rows] for name in figures}
    print("  %-26s" % "" + "".join("%22s" % name[-22:] for name in figures) + ("%10s" % "ratio" if args.baseline else ""))
    for i, (label, _) in enumerate(rows):
        values = [medians[name][i] for name in figures]
        ratio = "%10.2f" % (values[-1] / values[0]) if args.baseline and values[0] else ""
        print("  %-26s" % label + "".join(("%22.3f" if v < 1000 else "%22.0f") % v for v in values) + ratio)


if __name__ == "__main__":
    main()
