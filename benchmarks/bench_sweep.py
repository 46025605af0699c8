"""A sweep of 200 runs: the runs table's ``runs_summary``, cold and warm, and the
tab from open to the runs table drawn.

Writes (once, or reuses) a logdir of ``--runs`` runs x ``--layers`` layers named
``sweep/lr{0.001,0.01,0.1}_wd{0,1e-4}_seed{0..N}`` with the real RecordWriter
(records and the dead_fraction scalars; every ``--no-scalars-every``-th run
without scalars, so the records fallback is in the mix), then per round:

* starts a fresh ``tensorboard`` (default fast loader), waits until every run's
  every layer is listed at its last step, and times the first ``runs_summary``
  (cold) and the median of five more (warm);
* starts another fresh one and times the first ``runs_summary?source=records``
  (every run from its records: the baseline the scalars are measured against);
* opens the tab in headless Chromium (a fresh page) and times it from
  navigation to the runs table drawn with every run's row.

Prints the medians and the ratio records / scalars (cold). Times are for
comparison on one quiet machine, not thresholds.

Run: python benchmarks/bench_sweep.py [--runs 200] [--layers 12] [--steps 50] [--units 64]
     [--logdir /tmp/sweep200] [--rounds 3] [--screenshot /tmp/sweep_200.png]
"""

import argparse
import os
import statistics
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from tests import browser as chromium  # noqa: E402
from tests import tensorboard_process  # noqa: E402
from tests.sweep_logdir import sweep_names, write_sweep  # noqa: E402

ROUTE = "/data/plugin/deadrelu/"


def make_logdir(path, runs, layers, steps, units, no_scalars_every):
    """Writes the sweep into ``path`` unless a previous call left it complete; returns the run names."""
    names = sweep_names(runs)
    marker = os.path.join(path, ".complete-%d-%d-%d-%d-%d" % (runs, layers, steps, units, no_scalars_every))
    if os.path.exists(marker):
        return names
    started = time.perf_counter()
    write_sweep(
        path,
        names,
        layers=["dense_%d" % (i + 1) for i in range(layers)],
        units=[units] * layers,
        steps=list(range(steps)),
        without_scalars=set(names[::no_scalars_every]) if no_scalars_every else set(),
    )
    open(marker, "w").close()
    print("wrote %d runs x %d layers x %d steps in %.1f s" % (runs, layers, steps, time.perf_counter() - started))
    return names


def timed_get(url):
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        body = response.read()
    return time.perf_counter() - started, len(body)


def wait_loaded(tensorboard, runs, layers, last_step):
    """Waits until every run lists every layer at its last step."""

    def loaded():
        tags = tensorboard_process.get_json(tensorboard.url + ROUTE + "tags", timeout=60)
        return len(tags) == len(runs) and all(
            sum(1 for info in tags[run].values() if info["last_step"] == last_step) >= layers for run in runs
        )

    tensorboard_process.wait_until(loaded, "every run loaded", timeout=1800, processes=[tensorboard.process], interval=1)


def one_round(logdir, runs, args, browser):
    result = {}
    with tensorboard_process.running(logdir) as tensorboard:
        wait_loaded(tensorboard, runs, args.layers, args.steps - 1)
        result["cold"], result["bytes"] = timed_get(tensorboard.url + ROUTE + "runs_summary")
        result["warm"] = statistics.median(timed_get(tensorboard.url + ROUTE + "runs_summary")[0] for _ in range(5))
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        started = time.perf_counter()
        page.goto(tensorboard.url + "/#deadrelu")
        tab = page.frame_locator("iframe")
        tab.locator(".runs-table-holder[data-state=ready]").wait_for(timeout=600_000)
        result["tab"] = time.perf_counter() - started
        rows = tab.locator(".runs-table tbody tr").count()
        assert rows == len(runs), (rows, len(runs))
        if args.screenshot:
            page.screenshot(path=args.screenshot)
            args.screenshot = None
        page.close()
    with tensorboard_process.running(logdir) as tensorboard:
        wait_loaded(tensorboard, runs, args.layers, args.steps - 1)
        result["records"], _ = timed_get(tensorboard.url + ROUTE + "runs_summary?source=records")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--no-scalars-every", type=int, default=20, help="every N-th run has no dead_fraction scalars (0: none)")
    parser.add_argument("--logdir", default=None, help="where the sweep is written (default /tmp/deadrelu_sweep_<runs>)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--screenshot", help="save a screenshot of the tab with the runs table (first round)")
    args = parser.parse_args()
    logdir = args.logdir or "/tmp/deadrelu_sweep_%d" % args.runs
    runs = make_logdir(logdir, args.runs, args.layers, args.steps, args.units, args.no_scalars_every)
    rounds = []
    with chromium.headless_chromium() as browser:
        for i in range(args.rounds):
            rounds.append(one_round(logdir, runs, args, browser))
            print("round %d: %s" % (i + 1, ", ".join("%s %.3f" % (k, v) for k, v in rounds[-1].items() if k != "bytes")))
    median = {key: statistics.median(r[key] for r in rounds) for key in ("cold", "warm", "records", "tab")}
    print("%d runs x %d layers x %d steps, runs_summary %d bytes" % (args.runs, args.layers, args.steps, rounds[0]["bytes"]))
    print("runs_summary cold (scalars where present): %.3f s (median of %d)" % (median["cold"], len(rounds)))
    print("runs_summary warm:                         %.3f s" % median["warm"])
    print("runs_summary cold, every run from records: %.3f s  (ratio records / scalars %.1f)" % (median["records"], median["records"] / median["cold"]))
    print("tab open -> runs table drawn (cold):       %.3f s" % median["tab"])


if __name__ == "__main__":
    main()
