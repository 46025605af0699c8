"""How fast the Dead ReLU tab draws a large layer, in headless Chromium.

Writes one run with a 4,096-unit layer over 1,000 steps (numpy writer, no
TensorFlow), starts a real ``tensorboard`` on it, opens the tab several times and
prints, per load:

* open -> drawn: from ``page.goto`` of TensorBoard's ``#deadrelu`` to the
  heatmap being on the canvas (includes TensorBoard's own UI start, the API
  request, transfer and decoding);
* draw: the frontend's ``performance.measure`` around analysis, aggregation,
  painting and ``putImageData`` (the target is < 200 ms);
* the part of the first that is the tab's own: from its ``render()`` being
  called to the heatmap drawn (the rest is TensorBoard's UI starting);
* redraws after switching the sort order, the metric and τ (data already loaded);
* with ``--gradients``, the layer also has a gradient series of the same size:
  the gradient heatmap's first draw (after the activation heatmap; its data
  loads after it) and its redraw when switching the gradient colouring.

Run: python benchmarks/bench_tab.py [--units 4096] [--steps 1000] [--repeats 3] [--gradients]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests import tensorboard_process  # noqa: E402
from tests.browser import headless_chromium, measure_durations, wait_for_new_measure  # noqa: E402
from tests.eventfiles import write_records  # noqa: E402


def write_layer(logdir, units, steps, count=256, gradients=False):
    """A layer where units die progressively, so every colour class is present.

    With ``gradients``, also its gradient series: exactly-zero gradients for dead
    units, mean |gradient| spread over six orders of magnitude for the others.
    """
    rng = np.random.default_rng(0)
    death = rng.integers(0, 2 * steps, size=units)  # about half die during the run
    records = []
    gradient_records = []
    for step in range(steps):
        zeros = rng.integers(0, count, size=units)
        zeros[death <= step] = count
        records.append(
            (
                step,
                dict(
                    count=count,
                    zeros=zeros,
                    abs_sum=(rng.random(units) * (count - zeros)).astype(np.float32),
                    nonfinite=np.zeros(units, dtype=np.int64),
                ),
            )
        )
        if gradients:
            gradient_zeros = np.where(death <= step, count, rng.integers(0, count, size=units))
            magnitude = 10.0 ** rng.uniform(-8, -2, size=units) * (count - gradient_zeros)
            gradient_records.append(
                (step, dict(count=count, zeros=gradient_zeros, abs_sum=magnitude.astype(np.float32), nonfinite=np.zeros(units, dtype=np.int64)))
            )
    write_records(os.path.join(logdir, "big"), "dense_4096", records)
    if gradients:
        write_records(os.path.join(logdir, "big"), "dense_4096/gradients", gradient_records, kind="gradients")


def measure(url, args):
    """Loads the tab ``args.repeats`` times in headless Chromium and prints the timings."""
    t = time.perf_counter()
    with urllib.request.urlopen(url + "/data/plugin/deadrelu/heatmap?run=big&tag=dense_4096&format=binary&field=zeros") as r:
        size = len(r.read())
    print("binary zeros field: %.1f MB, first request %.0f ms" % (size / 1e6, 1e3 * (time.perf_counter() - t)))
    open_to_drawn, module_to_drawn, draws, resorts, dormant, retau = [], [], [], [], [], []
    gradient_draws, gradient_recolours = [], []
    with headless_chromium() as browser:
        for _ in range(args.repeats):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.add_init_script("localStorage.clear()")
            t = time.perf_counter()
            page.goto(url + "/#deadrelu")
            frame_locator = page.frame_locator("iframe")
            frame_locator.locator(".panel[data-drawn=true]").wait_for(timeout=120_000)
            open_to_drawn.append(1e3 * (time.perf_counter() - t))
            frame = next(f for f in page.frames if "plugin_entry" in f.url)
            draws.append(measure_durations(frame)[0])
            module_to_drawn.append(frame.evaluate(
                "(() => { const r = performance.getEntriesByName('deadrelu:render')[0];"
                " const d = performance.getEntriesByType('measure').find(m => m.name.startsWith('deadrelu:draw'));"
                " return d.startTime + d.duration - r.startTime; })()"
            ))
            frame_locator.locator(".deadrelu[data-details=loaded]").wait_for(timeout=120_000)
            if args.gradients:
                frame_locator.locator(".deadrelu[data-gradients=loaded]").wait_for(timeout=120_000)
                gradient_draws.append(measure_durations(frame, "deadrelu:gradients")[0])
                before = len(measure_durations(frame, "deadrelu:gradients"))
                frame_locator.locator("select[name=gradient]").select_option("magnitude")
                wait_for_new_measure(frame, before, "deadrelu:gradients")
                gradient_recolours.append(measure_durations(frame, "deadrelu:gradients")[-1])
                frame_locator.locator("select[name=gradient]").select_option("zeros")
            before = len(measure_durations(frame))
            frame_locator.locator("select[name=sort]").select_option("death")
            wait_for_new_measure(frame, before)
            resorts.append(measure_durations(frame)[-1])
            before = len(measure_durations(frame))
            frame_locator.locator("select[name=metric]").select_option("dormant")
            wait_for_new_measure(frame, before)
            dormant.append(measure_durations(frame)[-1])
            for tau in ("0.1", "0.05", "0.2"):
                before = len(measure_durations(frame))
                frame_locator.locator("input[name=tau]").fill(tau)
                frame_locator.locator("input[name=tau]").dispatch_event("change")
                wait_for_new_measure(frame, before)
                retau.append(measure_durations(frame)[-1])
            frame_locator.locator("select[name=sort]").select_option("index")
            frame_locator.locator("select[name=metric]").select_option("zeros")
            page.close()
    print("layer %d units x %d steps, %d loads in headless Chromium (median, min, max):" % (args.units, args.steps, args.repeats))
    for name, values in [
        ("open tab -> heatmap drawn", open_to_drawn),
        ("  of which: tab's render() -> heatmap drawn", module_to_drawn),
        ("draw after data arrived (target < 200 ms)", draws),
        ("redraw, sort by death step", resorts),
        ("redraw, switch to dormant metric", dormant),
        ("redraw, change tau (3 per load)", retau),
    ] + ([
        ("gradient heatmap, first draw", gradient_draws),
        ("gradient heatmap, switch to log mean |grad|", gradient_recolours),
    ] if args.gradients else []):
        print("  %-44s %7.1f ms  (%.1f .. %.1f)" % (name, statistics.median(values), min(values), max(values)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gradients", action="store_true", help="also write and draw a gradient series of the same size")
    args = parser.parse_args()

    logdir = tempfile.mkdtemp(prefix="deadrelu-bench-tab-")
    try:
        t = time.perf_counter()
        write_layer(logdir, args.units, args.steps, gradients=args.gradients)
        print("wrote %d units x %d steps in %.1f s" % (args.units, args.steps, time.perf_counter() - t))
        with tensorboard_process.running(logdir, "--load_fast=false", "--reload_interval", "0") as tensorboard:
            tensorboard_process.wait_for_runs(tensorboard, {"big"}, timeout=120)
            measure(tensorboard.url, args)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


if __name__ == "__main__":
    main()
