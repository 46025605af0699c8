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

With ``--scale DIR`` (the folder ``make_scale_logdirs.py`` wrote; its five
ResNet-50 runs, 49 layers x 22,720 units x 101 epochs each), it measures the tab
at the size of a real network instead, every run selected, per load:

* open tab -> whole-network view drawn (the first load after TensorBoard has
  loaded the logdir is cold for the plugin's caches; the later ones are warm),
  and the tab's own part of it (render() -> drawn);
* canvases and drawn panels in the page before scrolling, and the page height;
* scrolling to the bottom one window at a time, waiting at each for the panels
  on screen to be drawn: total time and panels drawn;
* the page's JS memory (CDP, after a forced GC: V8 heap plus typed arrays'
  backing stores; it includes TensorBoard's own UI)
  after the view is drawn, after scrolling to the bottom, and after selecting no
  run (which must fall back to about the first).

With ``--baseline REV``, every load alternates with one of the frontend at git
revision REV (served to the page from that revision's files, same TensorBoard),
and each figure is printed with the baseline's median and the ratio.

Run: python benchmarks/bench_tab.py [--units 4096] [--steps 1000] [--repeats 3] [--gradients] [--baseline REV]
     python benchmarks/bench_tab.py --scale /tmp/scale [--repeats 3]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
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


FIGURES = [
    ("open", "open tab -> heatmap drawn"),
    ("module", "  of which: tab's render() -> heatmap drawn"),
    ("draw", "draw after data arrived (target < 200 ms)"),
    ("resort", "redraw, sort by death step"),
    ("dormant", "redraw, switch to dormant metric"),
    ("retau", "redraw, change tau (3 per load)"),
]
GRADIENT_FIGURES = [
    ("gradient_draw", "gradient heatmap, first draw"),
    ("gradient_recolour", "gradient heatmap, switch to log mean |grad|"),
]


def serve_frontend_from(page, folder):
    """Makes ``page`` load the tab's static files from ``folder`` instead of the plugin (the baseline's frontend)."""
    def handle(route):
        name = route.request.url.split("/static/", 1)[1].split("?", 1)[0]
        content_type = "text/css" if name.endswith(".css") else "text/javascript"
        route.fulfill(path=os.path.join(folder, name), content_type=content_type)

    page.route("**/data/plugin/deadrelu/static/**", handle)


def load_once(browser, url, gradients, frontend=None):
    """Opens the tab once (with the frontend in folder ``frontend``, or the plugin's) and returns its figures in ms."""
    out = {key: [] for key, _ in FIGURES + GRADIENT_FIGURES}
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    if frontend:
        serve_frontend_from(page, frontend)
    page.add_init_script("localStorage.clear()")
    t = time.perf_counter()
    page.goto(url + "/#deadrelu")
    frame_locator = page.frame_locator("iframe")
    frame_locator.locator(".panel[data-drawn=true]").wait_for(timeout=120_000)
    out["open"].append(1e3 * (time.perf_counter() - t))
    frame = next(f for f in page.frames if "plugin_entry" in f.url)
    out["draw"].append(measure_durations(frame)[0])
    out["module"].append(frame.evaluate(
        "(() => { const r = performance.getEntriesByName('deadrelu:render')[0];"
        " const d = performance.getEntriesByType('measure').find(m => m.name.startsWith('deadrelu:draw'));"
        " return d.startTime + d.duration - r.startTime; })()"
    ))
    frame_locator.locator(".deadrelu[data-details=loaded]").wait_for(timeout=120_000)
    if gradients:
        frame_locator.locator(".deadrelu[data-gradients=loaded]").wait_for(timeout=120_000)
        frame_locator.locator(".panel[data-gradients-drawn]").wait_for(timeout=120_000)
        out["gradient_draw"].append(measure_durations(frame, "deadrelu:gradients")[0])
        before = len(measure_durations(frame, "deadrelu:gradients"))
        frame_locator.locator("select[name=gradient]").select_option("magnitude")
        wait_for_new_measure(frame, before, "deadrelu:gradients")
        out["gradient_recolour"].append(measure_durations(frame, "deadrelu:gradients")[-1])
        frame_locator.locator("select[name=gradient]").select_option("zeros")
    before = len(measure_durations(frame))
    frame_locator.locator("select[name=sort]").select_option("death")
    wait_for_new_measure(frame, before)
    out["resort"].append(measure_durations(frame)[-1])
    before = len(measure_durations(frame))
    frame_locator.locator("select[name=metric]").select_option("dormant")
    wait_for_new_measure(frame, before)
    out["dormant"].append(measure_durations(frame)[-1])
    for tau in ("0.1", "0.05", "0.2"):
        before = len(measure_durations(frame))
        frame_locator.locator("input[name=tau]").fill(tau)
        frame_locator.locator("input[name=tau]").dispatch_event("change")
        wait_for_new_measure(frame, before)
        out["retau"].append(measure_durations(frame)[-1])
    page.close()
    return out


def export_frontend(revision):
    """The tab's files at git ``revision``, written to a temporary folder; returns it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folder = tempfile.mkdtemp(prefix="deadrelu-frontend-")
    names = subprocess.run(["git", "ls-tree", "--name-only", revision, "frontend/"], cwd=root, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in names:
        with open(os.path.join(folder, os.path.basename(name)), "wb") as f:
            f.write(subprocess.run(["git", "show", "%s:%s" % (revision, name)], cwd=root, check=True, capture_output=True).stdout)
    return folder


def measure(url, args):
    """Loads the tab ``args.repeats`` times in headless Chromium and prints the timings; with
    ``args.baseline``, alternates each load with one of that revision's frontend and prints ratios."""
    t = time.perf_counter()
    with urllib.request.urlopen(url + "/data/plugin/deadrelu/heatmap?run=big&tag=dense_4096&format=binary&field=zeros") as r:
        size = len(r.read())
    print("binary zeros field: %.1f MB, first request %.0f ms" % (size / 1e6, 1e3 * (time.perf_counter() - t)))
    baseline_folder = export_frontend(args.baseline) if args.baseline else None
    current = {key: [] for key, _ in FIGURES + GRADIENT_FIGURES}
    baseline = {key: [] for key, _ in FIGURES + GRADIENT_FIGURES}
    try:
        with headless_chromium() as browser:
            for _ in range(args.repeats):
                if baseline_folder:
                    for key, values in load_once(browser, url, args.gradients, baseline_folder).items():
                        baseline[key] += values
                for key, values in load_once(browser, url, args.gradients).items():
                    current[key] += values
    finally:
        if baseline_folder:
            shutil.rmtree(baseline_folder, ignore_errors=True)
    print("layer %d units x %d steps, %d loads in headless Chromium (median, min, max)%s:"
          % (args.units, args.steps, args.repeats, ", alternating with the frontend of %s" % args.baseline if args.baseline else ""))
    for key, name in FIGURES + (GRADIENT_FIGURES if args.gradients else []):
        values = current[key]
        line = "  %-44s %7.1f ms  (%.1f .. %.1f)" % (name, statistics.median(values), min(values), max(values))
        if args.baseline:
            base = statistics.median(baseline[key])
            line += "   baseline %7.1f ms, ratio %.2f" % (base, statistics.median(values) / base)
        print(line)


def heap_mb(page):
    """The page's JS memory in MB after a forced garbage collection (CDP): the V8
    heap, the embedder's and the typed arrays' backing stores (the heatmaps' data)."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("HeapProfiler.collectGarbage")
        usage = cdp.send("Runtime.getHeapUsage")
        return (usage["usedSize"] + usage.get("embedderHeapUsedSize", 0) + usage.get("backingStorageSize", 0)) / 1e6
    finally:
        cdp.detach()


def wait_idle(frame_locator):
    frame_locator.locator(".deadrelu[data-loads=idle]").wait_for(timeout=300_000)


def measure_scale(url, runs, repeats):
    """Opens the tab on every run of a real-network-sized logdir ``repeats`` times and prints the figures."""
    rows = {name: [] for name in [
        "open tab -> whole-network view drawn", "  of which: tab's render() -> view drawn", "canvases before scrolling",
        "panels drawn before scrolling", "panels in the page", "page height (px)", "scroll to the bottom (s)",
        "panels drawn while scrolling", "canvases at the bottom", "JS heap: view drawn (MB)",
        "JS heap: scrolled to the bottom (MB)", "JS heap: no run selected (MB)",
    ]}
    settings = json.dumps({"runs": runs})
    with headless_chromium() as browser:
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.add_init_script("localStorage.setItem('deadrelu.settings.v1', %s)" % json.dumps(settings))
            t = time.perf_counter()
            page.goto(url + "/#deadrelu")
            tab = page.frame_locator("iframe")
            tab.locator(".network[data-drawn=true]").wait_for(timeout=300_000)
            rows["open tab -> whole-network view drawn"].append(time.perf_counter() - t)
            frame = next(f for f in page.frames if "plugin_entry" in f.url)
            rows["  of which: tab's render() -> view drawn"].append(frame.evaluate(
                "(() => { const r = performance.getEntriesByName('deadrelu:render')[0];"
                " const d = performance.getEntriesByName('deadrelu:network').at(-1);"
                " return (d.startTime + d.duration - r.startTime) / 1e3; })()"
            ))
            wait_idle(tab)
            count = lambda selector: frame.evaluate("s => document.querySelectorAll(s).length", selector)  # noqa: E731
            rows["canvases before scrolling"].append(count("canvas"))
            rows["panels drawn before scrolling"].append(count(".panel[data-drawn=true]"))
            rows["panels in the page"].append(count(".panel"))
            rows["page height (px)"].append(frame.evaluate("document.documentElement.scrollHeight"))
            rows["JS heap: view drawn (MB)"].append(heap_mb(page))
            frame.evaluate("window.__drawn = new Set(); new MutationObserver(ms => ms.forEach(m => m.target.dataset.drawn && window.__drawn.add(m.target.dataset.run + '/' + m.target.dataset.tag)))"
                           ".observe(document.body, {subtree: true, attributes: true, attributeFilter: ['data-drawn']})")
            t = time.perf_counter()
            while True:
                # Two animation frames: the intersection observer reports the new panels before "idle" is read.
                at_bottom = frame.evaluate(
                    "new Promise(done => { window.scrollBy(0, innerHeight);"
                    " requestAnimationFrame(() => requestAnimationFrame(() =>"
                    " done(innerHeight + scrollY >= document.documentElement.scrollHeight - 1))); })"
                )
                wait_idle(tab)
                if at_bottom:
                    break
            rows["scroll to the bottom (s)"].append(time.perf_counter() - t)
            rows["panels drawn while scrolling"].append(frame.evaluate("window.__drawn.size"))
            rows["canvases at the bottom"].append(count("canvas"))
            rows["JS heap: scrolled to the bottom (MB)"].append(heap_mb(page))
            tab.locator(".run-bar .link-button", has_text="none").click()
            tab.locator(".panel").first.wait_for(state="detached", timeout=60_000)
            rows["JS heap: no run selected (MB)"].append(heap_mb(page))
            page.close()
    print("%d runs, headless Chromium, %d loads (first, then median of the rest; min .. max of all):" % (len(runs), repeats))
    for name, values in rows.items():
        rest = values[1:] or values
        print("  %-42s first %9.2f   then %9.2f   (%.2f .. %.2f)" % (name, values[0], statistics.median(rest), min(values), max(values)))


def main_scale(args):
    """Measures the tab on the ResNet-50 runs of ``args.scale`` (see the module docstring)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_scale import wait_listed  # noqa: E402

    logdir = os.path.join(args.scale, "resnet50")
    runs = sorted(name for name in os.listdir(logdir) if not name.endswith(".partial"))
    with tensorboard_process.running(logdir, "--load_fast=true", "--reload_interval=0") as tensorboard:
        t = time.perf_counter()
        wait_listed(tensorboard, runs)
        print("TensorBoard loaded %d runs in %.1f s" % (len(runs), time.perf_counter() - t))
        measure_scale(tensorboard.url, runs, args.repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gradients", action="store_true", help="also write and draw a gradient series of the same size")
    parser.add_argument("--baseline", help="a git revision: alternate each load with that revision's frontend and print ratios")
    parser.add_argument("--scale", help="the folder of make_scale_logdirs.py: measure its five ResNet-50 runs instead")
    args = parser.parse_args()
    if args.scale:
        main_scale(args)
        return

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
