"""End to end: the Dead ReLU tab in headless Chromium against real ``tensorboard`` processes.

Event files are written with the numpy writer (``tests/eventfiles.write_records``);
every expected colour and number is computed here from those arrays, independently
of the frontend's code. One TensorBoard serves the data (``--load_fast=false``,
``--samples_per_plugin deadrelu=10`` so that one run is downsampled), one an
empty logdir, one a copy of the "relu" run with the default (Rust) loader (and a
run that gets rewritten); the browser is shared by the module.

The whole-network view, the layer filter, lazy panels and deselecting runs are
tested on a run of 30 layers ("deep"); counts of 2^32 and more on "huge".
"""

import contextlib
import json
import re

import numpy as np
import pytest

from tests import browser as chromium
from tests import tensorboard_process
from tests.eventfiles import write_records
from tests.tensorboard_process import get_json

from tensorboard.compat.proto import event_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from tensorboard_plugin_deadrelu.writing import summary

pytestmark = pytest.mark.slow  # starts processes: see tests/conftest.py

SAMPLE_LIMIT = 10
XSS_RUN = "<img src=x onerror=alert(1)>"

# The colours the tab promises (README): a pale-to-dark-blue scale through three
# stops for the zero fraction (and the dormant score), fixed colours for categories.
SCALE_STOPS = [(0.0, (247, 251, 255)), (0.5, (107, 174, 214)), (1.0, (8, 48, 107))]
DEAD_RGB = (230, 81, 0)
NEARLY_DEAD_RGB = (255, 183, 77)
NO_DATA_RGB = (224, 224, 224)
# The whole-network view: a pale blue for "no unit gone", then a yellow-orange-brown
# scale over the share of the layer's units that are dead.
NONE_GONE_RGB = (247, 251, 255)
SHARE_STOPS = [(0.0, (255, 237, 160)), (0.5, (254, 153, 41)), (1.0, (153, 52, 4))]

# run "relu", layer "dense": 4 steps x 6 units, 8 values per unit and step.
STEPS = [0, 10, 20, 30]
COUNT = 8
ZEROS = np.array(
    [
        [0, 2, 0, 8, 4, 1],
        [0, 2, 8, 8, 4, 1],
        [0, 2, 8, 0, 6, 8],
        [0, 2, 8, 8, 8, 1],
    ]
)
ABS_SUM = np.array(
    [
        [8, 4, 12, 0, 8, 16],
        [8, 4, 0, 0, 8, 16],
        [8, 4, 0, 3, 8, 0],
        [8, 4, 0, 0, 0, 16],
    ],
    dtype=np.float32,
)

# run "relu", layer "dense" also has a gradient series "dense/gradients" (same steps):
# exactly-zero gradient wherever the activation was zero, and mean |gradient| per cell
# spanning 1e-4 .. 1e-1 (so the log scale of the layer has known ends).
GRAD_ZEROS = ZEROS
GRAD_MEANS = np.array(
    [
        [1e-1, 2e-2, 3e-3, 0, 1e-3, 5e-2],
        [1e-1, 2e-2, 0, 0, 1e-3, 5e-2],
        [8e-2, 2e-2, 0, 1e-4, 1e-3, 0],
        [6e-2, 2e-2, 0, 0, 0, 4e-2],
    ]
)
GRAD_ABS_SUM = (GRAD_MEANS * COUNT).astype(np.float32)

# run "rewrite" (fast loader), layer "dense": rewritten with the same steps and units but other counts.
REWRITE_BEFORE = np.array([[8, 0, 0], [8, 0, 0]])
REWRITE_AFTER = np.array([[0, 8, 0], [0, 8, 8]])

# run "relu", layer "dense_2": more units than the canvas has rows; one dead unit.
WIDE_UNITS = 1000
WIDE_DEAD_UNIT = 777


# run "deep": 30 layers of 8 units over steps 0, 5, 10; layer i has DEEP_DEAD[i, s] dead units at step s.
DEEP_LAYERS = ["block%02d" % i for i in range(30)]
DEEP_STEPS = [0, 5, 10]
DEEP_UNITS = 8
DEEP_DEAD = np.array([[(i + 3 * s) % 9 for s in range(len(DEEP_STEPS))] for i in range(len(DEEP_LAYERS))])

# run "huge", layer "stem": counts above 2^32 (an ImageNet epoch through a stem convolution).
BIG = 16_000_000_000
HUGE_ZEROS = np.array([[BIG, BIG - 1, BIG // 2, 0], [BIG, BIG, BIG // 2, 0]], dtype=np.int64)


def interpolate(stops, t):
    """Colour at ``t`` of ``stops``, re-implemented from its definition (linear between stops, rounded half up)."""
    t = min(1.0, max(0.0, t))
    for (p0, c0), (p1, c1) in zip(stops, stops[1:]):
        if t <= p1:
            f = (t - p0) / (p1 - p0)
            return tuple(int(np.floor(a + f * (b - a) + 0.5)) for a, b in zip(c0, c1))
    raise AssertionError(t)


def scale_rgb(t):
    """The heatmaps' colour scale at ``t``."""
    return interpolate(SCALE_STOPS, t)


def share_rgb(share):
    """The whole-network view's colour of a layer with ``share`` of its units dead."""
    return NONE_GONE_RGB if share == 0 else interpolate(SHARE_STOPS, share)


def zero_fraction_rgb(zeros, count, threshold=0.99):
    if zeros == count:
        return DEAD_RGB
    fraction = np.float32(zeros / count)  # the frontend keeps fractions as float32
    return NEARLY_DEAD_RGB if fraction >= threshold else scale_rgb(float(fraction))


def dormant_scores(count, abs_sum):
    """Sokar et al.'s score per step and unit: mean|a| / the layer's mean of mean|a| (no NaN/Inf here)."""
    means = abs_sum.astype(np.float64) / count
    return means / means.mean(axis=1, keepdims=True)


def records(zeros, abs_sum, steps, count):
    return [
        (step, dict(count=count, zeros=zeros[i], abs_sum=abs_sum[i], nonfinite=np.zeros_like(zeros[i])))
        for i, step in enumerate(steps)
    ]


def deep_zeros(layer):
    """[steps, units] zeros of a "deep" layer: its first DEEP_DEAD[layer, s] units dead, the others half zeros."""
    zeros = np.full((len(DEEP_STEPS), DEEP_UNITS), COUNT // 2)
    for s in range(len(DEEP_STEPS)):
        zeros[s, : DEEP_DEAD[layer, s]] = COUNT
    return zeros


def write_at(run_dir, tag, zeros, steps, count, wall_time):
    """Writes one record per step into a new event file with the given wall time
    (``write_records`` stamps every file alike, and a rewritten run must differ)."""
    writer = EventFileWriter(run_dir, filename_suffix=".%d" % wall_time)
    for step, z in zip(steps, zeros):
        event = event_pb2.Event(step=step, wall_time=wall_time + step)
        event.summary.CopyFrom(summary.stats_pb(tag, count=count, zeros=z, abs_sum=(count - z).astype(np.float32), nonfinite=np.zeros_like(z)))
        writer.add_event(event)
    writer.close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """{"data", "empty", "fast": urls, "data_process": Popen, "logdir": path}; all killed at the end."""
    logdir = tmp_path_factory.mktemp("logs")
    write_records(str(logdir / "relu"), "dense", records(ZEROS, ABS_SUM, STEPS, COUNT))
    write_records(str(logdir / "relu"), "dense_1", records(ZEROS[:, :3], ABS_SUM[:, :3], STEPS, COUNT))
    write_records(
        str(logdir / "relu"), "dense/gradients", records(GRAD_ZEROS, GRAD_ABS_SUM, STEPS, COUNT), kind="gradients"
    )
    write_records(str(logdir / XSS_RUN), "dense", records(ZEROS[:2], ABS_SUM[:2], [0, 1], COUNT))
    write_records(str(logdir / "grow"), "dense", records(ZEROS[:2], ABS_SUM[:2], [0, 1], COUNT))
    wide_zeros = np.zeros((2, WIDE_UNITS), dtype=np.int64)
    wide_zeros[:, WIDE_DEAD_UNIT] = COUNT
    write_records(str(logdir / "relu"), "dense_2", records(wide_zeros, np.ones((2, WIDE_UNITS), np.float32), [0, 10], COUNT))
    long_zeros = np.tile(ZEROS[:1], (15, 1))
    write_records(str(logdir / "long"), "dense", records(long_zeros, np.tile(ABS_SUM[:1], (15, 1)), list(range(15)), COUNT))
    for i, tag in enumerate(DEEP_LAYERS):
        zeros = deep_zeros(i)
        write_records(str(logdir / "deep"), tag, records(zeros, (COUNT - zeros).astype(np.float32), DEEP_STEPS, COUNT))
    huge_abs = np.ones(HUGE_ZEROS.shape, dtype=np.float32)
    write_records(str(logdir / "huge"), "stem", records(HUGE_ZEROS, huge_abs, [0, 1], BIG))
    empty_logdir = tmp_path_factory.mktemp("empty")
    fast_logdir = tmp_path_factory.mktemp("fast")
    write_records(str(fast_logdir / "relu"), "dense", records(ZEROS, ABS_SUM, STEPS, COUNT))
    write_at(str(fast_logdir / "rewrite"), "dense", REWRITE_BEFORE, [0, 1], COUNT, 1_600_000_000)
    with contextlib.ExitStack() as stack:
        data = stack.enter_context(tensorboard_process.running(
            logdir, "--load_fast=false", "--samples_per_plugin", "deadrelu=%d" % SAMPLE_LIMIT, "--reload_interval", "1"
        ))
        empty = stack.enter_context(tensorboard_process.running(empty_logdir, "--load_fast=false"))
        fast = stack.enter_context(tensorboard_process.running(fast_logdir, "--load_fast=true", "--reload_interval", "1"))
        tensorboard_process.wait_for_runs(data, {"relu", XSS_RUN, "grow", "long", "deep", "huge"})
        tensorboard_process.wait_for_runs(empty, set())
        tensorboard_process.wait_for_runs(fast, {"relu", "rewrite"})
        yield {
            "data": data.url, "empty": empty.url, "fast": fast.url, "data_process": data.process,
            "logdir": logdir, "fast_logdir": fast_logdir,
        }


@pytest.fixture(scope="module")
def browser():
    with chromium.headless_chromium() as browser:
        yield browser


@pytest.fixture
def page(browser):
    """A fresh page (own localStorage) that records dialogs and page errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.dialogs = []
    page.errors = []

    def on_dialog(dialog):
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


SETTINGS_KEY = "deadrelu.settings.v1"


def open_tab(page, url, state="ready", runs=None, **settings):
    """Opens TensorBoard on the Dead ReLU tab; returns (frame_locator, frame) of the tab's iframe.

    ``runs`` (and other ``settings``) are the tab's saved choices for this page's
    first load; without them the tab shows its default runs.
    """
    if runs is not None:
        settings["runs"] = runs
    if settings:
        # Only if nothing is saved yet: a page.reload() must find what the tab saved itself.
        page.add_init_script(
            "if (!localStorage.getItem(%s)) localStorage.setItem(%s, %s)"
            % (json.dumps(SETTINGS_KEY), json.dumps(SETTINGS_KEY), json.dumps(json.dumps(settings)))
        )
    page.goto(url + "/#deadrelu")
    tab = page.frame_locator("iframe")
    tab.locator(".deadrelu[data-state=%s]" % state).wait_for(timeout=30_000)
    frame = next(f for f in page.frames if "plugin_entry.html?name=deadrelu" in f.url)
    return tab, frame


def panel_selector(run, tag):
    return ".panel[data-run=%s][data-tag=%s]" % (json.dumps(run), json.dumps(tag))


def show_panel(tab, run, tag, what="drawn"):
    """Scrolls a layer's panel into view and waits until it is drawn (``what="details"``:
    also mean |activation| loaded; ``"gradients"``: its gradient heatmap drawn)."""
    tab.locator(panel_selector(run, tag)).scroll_into_view_if_needed()
    state = {"drawn": "[data-drawn=true]", "details": "[data-details=loaded]", "gradients": "[data-gradients-drawn]"}[what]
    tab.locator(panel_selector(run, tag) + state).wait_for(timeout=30_000)


PIXEL_JS = """([run, tag, x, y]) => {
  const canvas = [...document.querySelectorAll("canvas.heatmap")].find(c => c.dataset.run === run && c.dataset.tag === tag);
  if (!canvas) return null;
  return {width: canvas.width, height: canvas.height,
          rgba: Array.from(canvas.getContext("2d").getImageData(x, y, 1, 1).data)};
}"""


def pixel(frame, run, tag, step_index, unit):
    """RGB of the canvas pixel of (unit, step) — unaggregated layers get one pixel per cell."""
    found = frame.evaluate(PIXEL_JS, [run, tag, step_index, unit])
    assert found is not None, "no heatmap for %s/%s" % (run, tag)
    assert found["rgba"][3] == 255
    return tuple(found["rgba"][:3]), (found["width"], found["height"])


def draw_count(frame):
    return len(chromium.measure_durations(frame))


def tooltip_rows(tab):
    """Waits for the tab's tooltip to show and returns its rows as ``{key: value}`` text."""
    tooltip = tab.locator(".tooltip")
    tooltip.wait_for(state="visible")
    return {
        row.locator(".tooltip-key").inner_text(): row.locator(".tooltip-value").inner_text()
        for row in tooltip.locator(".tooltip-row").all()
    }


def test_tab_is_listed_and_shows_layers_in_order(servers, page):
    listing = get_json(servers["data"] + "/data/plugins_listing")["deadrelu"]
    assert listing["enabled"] is True
    assert listing["tab_name"] == "Dead ReLU"
    assert listing["loading_mechanism"] == {"type": "IFRAME", "module_path": "/data/plugin/deadrelu/static/index.js"}
    tab, frame = open_tab(page, servers["data"])
    assert page.locator("iframe").get_attribute("src") == "data/plugin_entry.html?name=deadrelu"
    assert page.get_by_text("Dead ReLU", exact=True).first.is_visible()
    sections = "[...document.querySelectorAll('.run-section')].map(s => s.dataset.run)"
    assert frame.evaluate(sections) == [XSS_RUN, "deep", "grow", "huge"]  # natural order, the first four by default
    tab.locator(".run-option", has_text="relu").locator("input").check()
    tab.locator(".network-run[data-run=relu] canvas").wait_for()
    assert frame.evaluate(sections) == [XSS_RUN, "deep", "grow", "huge", "relu"]
    layers = frame.evaluate(
        "[...document.querySelectorAll('.run-section[data-run=relu] .panel')].map(p => p.dataset.tag)"
    )
    assert layers == ["dense", "dense_1", "dense_2"]
    network_rows = frame.evaluate(
        "[...document.querySelectorAll('.network-run[data-run=relu] .network-labels text')].map(t => t.textContent).filter(Boolean)"
    )
    assert network_rows == ["dense", "dense_1", "dense_2"]
    show_panel(tab, "relu", "dense")
    assert tab.locator(".run-section[data-run=relu] .panel[data-tag=dense] .layer-summary").inner_text() == (
        "6 units · 4 steps · 3 dead at step 30 (50.0%) · 3 nearly dead (≥ 0.99) · 1 revived"
    )
    assert page.errors == []


def test_known_cells_have_the_colour_of_their_zero_fraction(servers, page):
    tab, frame = open_tab(page, servers["data"], runs=["relu"])
    show_panel(tab, "relu", "dense")
    for s, _ in enumerate(STEPS):
        for u in range(ZEROS.shape[1]):
            rgb, size = pixel(frame, "relu", "dense", s, u)
            assert size == (len(STEPS), ZEROS.shape[1])
            assert rgb == zero_fraction_rgb(ZEROS[s, u], COUNT), (s, u)
    # Spelled out: unit 1 outputs zero on 2 of 8 inputs, a quarter of the way up the scale;
    # unit 2 is dead from step 10 on.
    assert pixel(frame, "relu", "dense", 0, 1)[0] == (177, 213, 235)
    assert [pixel(frame, "relu", "dense", s, 2)[0] for s in range(4)] == [(247, 251, 255)] + [DEAD_RGB] * 3


def test_sorting_reorders_unit_rows(servers, page):
    tab, frame = open_tab(page, servers["data"], runs=["relu"])
    show_panel(tab, "relu", "dense")
    dead = ZEROS == COUNT
    # Death step index: first step from which the unit is dead at every later step (none: last).
    alive_later = np.array([[not dead[t:, u].all() for u in range(dead.shape[1])] for t in range(len(STEPS))])
    death = np.array([alive_later[:, u].argmin() if not alive_later[-1, u] else len(STEPS) for u in range(dead.shape[1])])
    latest = np.where(dead[-1], 2.0, ZEROS[-1] / COUNT)
    expected_orders = {
        "death": list(np.lexsort((np.arange(6), death))),
        "latest": list(np.lexsort((np.arange(6), -latest))),
    }
    assert expected_orders == {"death": [2, 3, 4, 0, 1, 5], "latest": [2, 3, 4, 1, 5, 0]}
    for sort, order in expected_orders.items():
        before = draw_count(frame)
        tab.locator("select[name=sort]").select_option(sort)
        chromium.wait_for_new_measure(frame, before)
        for row, unit in enumerate(order):
            for s in range(len(STEPS)):
                assert pixel(frame, "relu", "dense", s, row)[0] == zero_fraction_rgb(ZEROS[s, unit], COUNT), (sort, row)


def test_large_layer_aggregates_rows_and_zooms_into_units(servers, page):
    tab, frame = open_tab(page, servers["data"], runs=["relu"])
    show_panel(tab, "relu", "dense_2")
    rgb, (width, rows) = pixel(frame, "relu", "dense_2", 0, 0)
    assert rows < WIDE_UNITS and width == 2
    dead_row = WIDE_DEAD_UNIT * rows // WIDE_UNITS  # each row shows the worst of its units
    column = [pixel(frame, "relu", "dense_2", 1, r)[0] for r in range(rows)]
    assert [r for r, c in enumerate(column) if c == DEAD_RGB] == [dead_row]
    assert set(column) - {DEAD_RGB} == {scale_rgb(0.0)}
    # Drag over rows around the dead one: the zoomed view has one pixel row per unit.
    canvas = tab.locator("canvas.heatmap[data-run=relu][data-tag=dense_2]")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    y = lambda row: box["y"] + (row + 0.5) * box["height"] / rows
    before = draw_count(frame)
    page.mouse.move(box["x"] + 5, y(dead_row - 5))
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 5, y(dead_row + 5), steps=5)
    page.mouse.up()
    chromium.wait_for_new_measure(frame, before)
    first = -(-(dead_row - 5) * WIDE_UNITS // rows)  # first unit of row dead_row - 5
    last = -(-(dead_row + 6) * WIDE_UNITS // rows)  # one past the last unit of row dead_row + 5
    _, (_, zoomed_rows) = pixel(frame, "relu", "dense_2", 0, 0)
    assert zoomed_rows == last - first
    assert pixel(frame, "relu", "dense_2", 1, WIDE_DEAD_UNIT - first)[0] == DEAD_RGB
    assert pixel(frame, "relu", "dense_2", 1, WIDE_DEAD_UNIT - first - 1)[0] == scale_rgb(0.0)
    tab.locator(".panel[data-tag=dense_2] .link-button", has_text="reset zoom").click()
    assert pixel(frame, "relu", "dense_2", 0, 0)[1][1] == rows


def test_default_fast_loader_draws_the_same_cells(servers, page):
    tab, frame = open_tab(page, servers["fast"], runs=["relu"])
    show_panel(tab, "relu", "dense")
    for s, _ in enumerate(STEPS):
        for u in range(ZEROS.shape[1]):
            assert pixel(frame, "relu", "dense", s, u)[0] == zero_fraction_rgb(ZEROS[s, u], COUNT), (s, u)


def test_hover_shows_the_cell_numbers_consistent_with_the_overview(servers, page):
    tab, frame = open_tab(page, servers["data"], runs=["relu"])
    show_panel(tab, "relu", "dense", "details")
    canvas = tab.locator("canvas.heatmap[data-run=relu][data-tag=dense]")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    step_index, unit = 2, 4  # step 20: 6 of 8 zeros; unit 4 dies for good at step 30
    page.mouse.move(box["x"] + (step_index + 0.5) * box["width"] / 4, box["y"] + (unit + 0.5) * box["height"] / 6)
    rows = tooltip_rows(tab)
    overview = get_json(servers["data"] + "/data/plugin/deadrelu/overview?run=relu")
    dense = next(layer for layer in overview["layers"] if layer["tag"] == "dense")
    assert dense["death_step"][unit] == 30
    assert rows["run"] == "relu"
    assert rows["layer"] == "dense"
    assert rows["unit"] == "4"
    assert rows["step"] == "20"
    assert rows["zeros / count"] == "6 / 8"
    assert rows["zero fraction"] == "0.7500"
    assert rows["mean |activation|"] == "1"  # 8 / 8
    assert rows["dead since step"] == str(dense["death_step"][unit])
    assert rows["revived"] == "no"
    # Unit 5 was dead at step 20 only: the overview and the tooltip both call it revived.
    assert dense["revived"][5] is True
    page.mouse.move(box["x"] + 0.5 * box["width"] / 4, box["y"] + 5.5 * box["height"] / 6)
    tab.locator(".tooltip-row", has_text="revived").filter(has_text="yes").wait_for()


def test_dormant_metric_recolours_cells_by_score(servers, page):
    tab, frame = open_tab(page, servers["data"], runs=["relu"])
    show_panel(tab, "relu", "dense", "details")
    before = draw_count(frame)
    tab.locator("select[name=metric]").select_option("dormant")
    chromium.wait_for_new_measure(frame, before)
    scores = dormant_scores(COUNT, ABS_SUM)
    for s in range(len(STEPS)):
        for u in range(ZEROS.shape[1]):
            score = scores[s, u]
            expected = DEAD_RGB if score <= 0.025 else scale_rgb(float(np.float32(1 - min(score, 2) / 2)))
            assert pixel(frame, "relu", "dense", s, u)[0] == expected, (s, u, score)
    # Step 0: means 1, .5, 1.5, 0, 1, 2 -> layer mean 1; unit 1 scores 0.5, three quarters up the scale.
    assert pixel(frame, "relu", "dense", 0, 1)[0] == (58, 111, 161)
    assert tab.locator(".legend").inner_text().count("dormant (score ≤ 0.025)") == 1
    # τ = 0.6 makes unit 1 (score 0.5) dormant too.
    before = draw_count(frame)
    tab.locator("input[name=tau]").fill("0.6")
    tab.locator("input[name=tau]").dispatch_event("change")
    chromium.wait_for_new_measure(frame, before)
    assert pixel(frame, "relu", "dense", 0, 1)[0] == DEAD_RGB


def test_run_names_are_text_and_run_nothing(servers, page):
    tab, frame = open_tab(page, servers["data"])
    title = tab.locator(".run-section .run-title .run-name").first
    assert title.inner_text() == XSS_RUN
    assert tab.locator(".run-option .run-name", has_text="onerror").inner_text() == XSS_RUN
    assert tab.locator(".network-run-title", has_text="onerror").inner_text() == XSS_RUN
    assert frame.evaluate("document.querySelectorAll('img').length") == 0
    assert page.dialogs == []
    assert page.errors == []


def test_downsampled_run_says_how_to_keep_every_step(servers, page):
    tab, _ = open_tab(page, servers["data"], runs=["long", "relu"])
    show_panel(tab, "long", "dense")
    show_panel(tab, "relu", "dense")
    note = tab.locator(".run-section[data-run=long] .message.warning")
    assert "kept only %d steps" % SAMPLE_LIMIT in note.inner_text()
    assert note.locator("code").inner_text() == "--samples_per_plugin deadrelu=0"
    assert tab.locator(".run-section[data-run=relu] .message.warning").count() == 0


def test_empty_logdir_explains_how_to_start_logging(servers, page):
    tab, _ = open_tab(page, servers["empty"], state="empty")
    text = tab.locator(".empty-state").inner_text()
    assert "No Dead ReLU data found" in text
    assert "model.fit(x, y, callbacks=[DeadReluMonitor(log_dir)])" in text
    assert "from tensorboard_plugin_deadrelu.keras import DeadReluMonitor" in text
    assert tab.locator("select[name=metric]").is_visible() is False  # no controls without data


def test_reload_brings_new_steps_and_keeps_the_selection(servers, page):
    tab, frame = open_tab(page, servers["data"], runs=[XSS_RUN, "grow", "long", "relu"])
    tab.locator(".run-option", has_text="onerror").locator("input").uncheck()
    # The relu section was there before the uncheck: wait for the redraw without the unchecked run.
    tab.locator(".run-section", has_text="onerror").wait_for(state="detached")
    tab.locator(".run-section[data-run=relu]").wait_for()
    assert tab.locator(".run-section", has_text="onerror").count() == 0
    tab.locator("select[name=sort]").select_option("death")
    write_records(
        str(servers["logdir"] / "grow"), "dense", records(ZEROS[2:3], ABS_SUM[2:3], [2], COUNT)
    )
    tensorboard_process.wait_until(
        lambda: len(get_json(servers["data"] + "/data/plugin/deadrelu/heatmap?run=grow&tag=dense")["steps"]) == 3,
        "tensorboard to pick up the new step",
        timeout=30,
    )
    frame.evaluate("window.scrollTo(0, 300)")
    page.locator("button.reload-button").click()
    frame.wait_for_function(
        """() => [...document.querySelectorAll('canvas.heatmap')]
                 .some(c => c.dataset.run === 'grow' && c.width === 3)"""
    )
    assert tab.locator(".run-option", has_text="onerror").locator("input").is_checked() is False
    assert tab.locator(".run-section", has_text="onerror").count() == 0
    assert tab.locator("select[name=sort]").input_value() == "death"
    assert frame.evaluate("window.scrollY") == 300  # the page did not jump to the top
    assert tab.locator(".run-section[data-run=grow] .layer-summary").inner_text().startswith("6 units · 3 steps")


GRAD_PIXEL_JS = PIXEL_JS.replace("canvas.heatmap", "canvas.grad-heatmap")


def gradient_pixel(frame, run, tag, step_index, unit):
    """RGB of the gradient heatmap's pixel of (unit, step) of layer ``tag``'s gradient series."""
    found = frame.evaluate(GRAD_PIXEL_JS, [run, tag + "/gradients", step_index, unit])
    assert found is not None, "no gradient heatmap for %s/%s" % (run, tag)
    assert found["rgba"][3] == 255
    return tuple(found["rgba"][:3]), (found["width"], found["height"])


def gradient_magnitude_rgb(s, u):
    """Log position of the cell's mean |gradient| between the layer's smallest and largest."""
    if GRAD_ZEROS[s, u] == COUNT:
        return DEAD_RGB
    means = GRAD_ABS_SUM.astype(np.float64) / COUNT  # the float32 sums the tab receives
    positive = means[means > 0]
    lo, hi = np.log(positive.min()), np.log(positive.max())
    position = np.float32(1 - (np.log(means[s, u]) - lo) / (hi - lo))  # the frontend keeps positions as float32
    return scale_rgb(float(position))


def test_gradient_heatmap_colours_in_both_modes_and_tooltip_numbers(servers, page):
    tab, frame = open_tab(page, servers["data"], runs=["relu"])
    show_panel(tab, "relu", "dense", "gradients")
    # Zero share: the same scale and dead colour as the zero fraction, rows in the activation heatmap's order.
    for s in range(len(STEPS)):
        for u in range(6):
            rgb, size = gradient_pixel(frame, "relu", "dense", s, u)
            assert size == (len(STEPS), 6)
            assert rgb == zero_fraction_rgb(GRAD_ZEROS[s, u], COUNT), (s, u)
    assert tab.locator(".panel[data-tag=dense_1] .grad-heatmap").is_visible() is False  # no gradients there
    before = frame.evaluate("performance.getEntriesByType('measure').filter(m => m.name.startsWith('deadrelu:gradients')).length")
    tab.locator("select[name=gradient]").select_option("magnitude")
    frame.wait_for_function(
        "n => performance.getEntriesByType('measure').filter(m => m.name.startsWith('deadrelu:gradients')).length > n",
        arg=before,
    )
    for s in range(len(STEPS)):
        for u in range(6):
            assert gradient_pixel(frame, "relu", "dense", s, u)[0] == gradient_magnitude_rgb(s, u), (s, u)
    # Spelled out: unit 4 at step 0 has mean |gradient| 1e-3 in a layer spanning 1e-4 .. 1e-1,
    # a third of the way down the log scale -> two thirds of the way up the colour scale.
    assert gradient_pixel(frame, "relu", "dense", 0, 4)[0] == (74, 132, 178)
    assert gradient_pixel(frame, "relu", "dense", 0, 0)[0] == scale_rgb(0.0)  # the layer's largest
    assert gradient_pixel(frame, "relu", "dense", 0, 3)[0] == DEAD_RGB
    legend = tab.locator(".panel[data-run=relu][data-tag=dense] .grad-legend").inner_text()
    assert "0.1" in legend and "1.0e-4" in legend and "log scale" in legend
    # Hovering the gradient heatmap shows the activation's and the gradient's numbers.
    canvas = tab.locator("canvas.grad-heatmap[data-run=relu][data-tag='dense/gradients']")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    step_index, unit = 2, 4  # step 20: activation 6 of 8 zeros; gradient the same, mean 1e-3
    page.mouse.move(box["x"] + (step_index + 0.5) * box["width"] / 4, box["y"] + (unit + 0.5) * box["height"] / 6)
    rows = tooltip_rows(tab)
    assert rows["unit"] == "4" and rows["step"] == "20"
    assert rows["zeros / count"] == "6 / 8"
    assert rows["gradient zeros / count"] == "6 / 8"
    assert rows["zero-gradient share"] == "0.7500"
    assert rows["mean |∂loss/∂pre-act.|"] == "0.001"
    # Dragging across units 1..3 of the gradient heatmap zooms both heatmaps to those rows.
    before = draw_count(frame)
    page.mouse.move(box["x"] + 2, box["y"] + 1.5 * box["height"] / 6)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + 3.5 * box["height"] / 6, steps=4)
    page.mouse.up()
    chromium.wait_for_new_measure(frame, before)
    assert gradient_pixel(frame, "relu", "dense", 0, 0)[1] == (len(STEPS), 3)
    assert pixel(frame, "relu", "dense", 0, 0)[1] == (len(STEPS), 3)
    assert [gradient_pixel(frame, "relu", "dense", 0, row)[0] for row in range(3)] == [gradient_magnitude_rgb(0, u) for u in (1, 2, 3)]
    assert page.errors == []


NETWORK_PIXEL_JS = """([run, x, y]) => {
  const canvas = [...document.querySelectorAll("canvas.network-canvas")].find(c => c.dataset.run === run);
  if (!canvas) return null;
  return {width: canvas.width, height: canvas.height,
          rgba: Array.from(canvas.getContext("2d").getImageData(x, y, 1, 1).data)};
}"""


def network_pixel(frame, run, column, row):
    """RGB of the whole-network canvas pixel of (layer row, step column), and the canvas' size."""
    found = frame.evaluate(NETWORK_PIXEL_JS, [run, column, row])
    assert found is not None, "no whole-network canvas for %s" % run
    assert found["rgba"][3] == 255
    return tuple(found["rgba"][:3]), (found["width"], found["height"])


def drawn_panels(frame, run):
    return frame.evaluate("r => [...document.querySelectorAll('.panel[data-drawn=true]')].filter(p => p.dataset.run === r).map(p => p.dataset.tag)", run)


def test_whole_network_view_colours_layers_by_their_dead_share_on_a_shared_step_axis(servers, page):
    tab, frame = open_tab(page, servers["data"], runs=["deep", "huge"])
    tab.locator(".network[data-drawn=true]").wait_for()
    # Runs side by side share the step axis: the union of deep's 0, 5, 10 and huge's 0, 1.
    axis = [0, 1, 5, 10]
    _, size = network_pixel(frame, "deep", 0, 0)
    assert size == (len(axis), len(DEEP_LAYERS))
    for i in range(len(DEEP_LAYERS)):
        for column, step in enumerate(axis):
            expected = share_rgb(DEEP_DEAD[i, DEEP_STEPS.index(step)] / DEEP_UNITS) if step in DEEP_STEPS else NO_DATA_RGB
            assert network_pixel(frame, "deep", column, i)[0] == expected, (i, step)
    # Spelled out: block04 has 4 of 8 units dead at step 0 (half way up the scale), 7 at step 5 and 1 at 10.
    assert [network_pixel(frame, "deep", c, 4)[0] for c in range(4)] == [(254, 153, 41), NO_DATA_RGB, share_rgb(7 / 8), share_rgb(1 / 8)]
    assert network_pixel(frame, "deep", 0, 0)[0] == NONE_GONE_RGB  # block00: none dead at step 0
    # huge (count 1.6e10): 1 of 4 units dead at step 0 (the one a single zero short is not), 2 at step 1.
    assert [network_pixel(frame, "huge", c, 0)[0] for c in range(4)] == [share_rgb(0.25), share_rgb(0.5)] + [NO_DATA_RGB] * 2
    # The tooltip names the layer, the step and dead / units.
    canvas = tab.locator("canvas.network-canvas[data-run=deep]")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 2.5 * box["width"] / 4, box["y"] + 4.5 * box["height"] / len(DEEP_LAYERS))
    rows = tooltip_rows(tab)
    assert (rows["layer"], rows["step"], rows["dead / units"]) == ("block04", "5", "7 / 8 (87.5%)")
    assert page.errors == []


def test_clicking_a_layer_row_brings_its_panel_into_view(servers, page):
    tab, frame = open_tab(page, servers["data"], runs=["deep"])
    last = DEEP_LAYERS[-1]
    target = tab.locator(panel_selector("deep", last))
    assert target.bounding_box()["y"] > 1000  # below the fold at first
    canvas = tab.locator("canvas.network-canvas[data-run=deep]")
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + (len(DEEP_LAYERS) - 0.5) * box["height"] / len(DEEP_LAYERS))
    tab.locator(panel_selector("deep", last) + "[data-drawn=true]").wait_for()
    box = frame.evaluate("s => document.querySelector(s).getBoundingClientRect().toJSON()", panel_selector("deep", last))
    toolbar = frame.evaluate("document.querySelector('.toolbar').getBoundingClientRect().bottom")
    assert toolbar <= box["top"] and box["bottom"] <= frame.evaluate("innerHeight")  # whole, not under the sticky toolbar
    assert tab.locator(panel_selector("deep", last) + " .layer-summary").inner_text().startswith(
        "8 units · 3 steps · %d dead at step 10" % DEEP_DEAD[-1, -1]
    )


def test_panels_below_the_fold_are_drawn_only_when_scrolled_to(servers, page):
    tab, frame = open_tab(page, servers["data"], runs=["deep"])
    tab.locator(".deadrelu[data-loads=idle]").wait_for()
    drawn = drawn_panels(frame, "deep")
    assert 0 < len(drawn) < len(DEEP_LAYERS)
    assert drawn == DEEP_LAYERS[: len(drawn)]  # the first ones, in order
    assert frame.evaluate("document.querySelectorAll('canvas.heatmap').length") == len(drawn)
    last = panel_selector("deep", DEEP_LAYERS[-1])
    assert tab.locator(last + " canvas").count() == 0
    tab.locator(last).scroll_into_view_if_needed()
    tab.locator(last + "[data-drawn=true]").wait_for()
    assert DEEP_LAYERS[-1] in drawn_panels(frame, "deep")


def test_filter_leaves_only_matching_layers_and_survives_a_reload(servers, page):
    tab, frame = open_tab(page, servers["data"], runs=["deep"])
    field = tab.get_by_placeholder(re.compile("filter layers", re.I))
    assert "filter" in field.get_attribute("aria-label")
    field.fill("BLOCK1[0-2]$")
    visible = "[...document.querySelectorAll('.panel')].filter(p => p.offsetParent !== null).map(p => p.dataset.tag)"
    frame.wait_for_function("n => document.querySelectorAll('.panel:not([hidden])').length === n", arg=3)
    assert frame.evaluate(visible) == ["block10", "block11", "block12"]
    assert network_pixel(frame, "deep", 0, 0)[1] == (3, 3)  # the whole-network view shows those layers only
    assert network_pixel(frame, "deep", 0, 0)[0] == share_rgb(DEEP_DEAD[10, 0] / DEEP_UNITS)
    assert "3 of %d layers" % len(DEEP_LAYERS) in tab.locator(".run-section[data-run=deep] .run-count").inner_text()
    page.reload()
    tab.locator(".deadrelu[data-state=ready]").wait_for()
    frame = next(f for f in page.frames if "plugin_entry.html?name=deadrelu" in f.url)
    assert tab.get_by_placeholder(re.compile("filter layers", re.I)).input_value() == "BLOCK1[0-2]$"
    assert frame.evaluate(visible) == ["block10", "block11", "block12"]
    # An invalid expression says so and filters nothing; nothing breaks.
    tab.get_by_placeholder(re.compile("filter layers", re.I)).fill("block(")
    tab.locator(".filter-error", has_text="invalid regular expression").wait_for()
    assert len(frame.evaluate(visible)) == len(DEEP_LAYERS)
    # Collapsing the run hides its panels; opening it shows them again.
    tab.locator(".run-section[data-run=deep] .run-toggle").click()
    assert frame.evaluate(visible) == []
    tab.locator(".run-section[data-run=deep] .run-toggle").click()
    assert len(frame.evaluate(visible)) == len(DEEP_LAYERS)
    assert page.errors == []


def test_deselecting_a_run_removes_its_panels(servers, page):
    tab, frame = open_tab(page, servers["data"], runs=["relu", "huge"])
    show_panel(tab, "relu", "dense")
    assert tab.locator(".panel[data-run=relu]").count() == 3
    tab.locator(".run-option", has_text="relu").locator("input").uncheck()
    tab.locator(".run-section[data-run=relu]").wait_for(state="detached")
    assert tab.locator(".panel[data-run=relu]").count() == 0
    assert tab.locator("canvas[data-run=relu]").count() == 0
    assert tab.locator(".network-run[data-run=relu]").count() == 0
    assert tab.locator(".panel[data-run=huge]").count() == 1
    tab.locator(".deadrelu[data-loads=idle]").wait_for()  # the remaining panels are accounted for
    assert drawn_panels(frame, "huge") == ["stem"]


def test_counts_above_2_to_the_32_are_exact_in_the_api_and_the_tab(servers, page):
    heatmap = get_json(servers["data"] + "/data/plugin/deadrelu/heatmap?run=huge&tag=stem")
    assert heatmap["count"] == [BIG, BIG]
    assert heatmap["zeros"] == HUGE_ZEROS.tolist()
    tab, frame = open_tab(page, servers["data"], runs=["huge"])
    show_panel(tab, "huge", "stem")
    # Dead only where zeros == count; one zero short is nearly dead (0.9999999999375), half zeros mid-scale.
    expected = [[DEAD_RGB, NEARLY_DEAD_RGB, scale_rgb(0.5), scale_rgb(0.0)], [DEAD_RGB, DEAD_RGB, scale_rgb(0.5), scale_rgb(0.0)]]
    for s in range(2):
        for u in range(4):
            assert pixel(frame, "huge", "stem", s, u)[0] == expected[s][u], (s, u)
    assert tab.locator(panel_selector("huge", "stem") + " .layer-summary").inner_text().startswith(
        "4 units · 2 steps · 2 dead at step 1 (50.0%)"
    )


GEOMETRY_JS = """s => {
  const panel = document.querySelector(s);
  const box = (q) => { const e = panel.querySelector(q); if (!e) return {shown: false};
                       const r = e.getBoundingClientRect();
                       return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width, shown: e.getClientRects().length > 0}; };
  return {heatmap: box("canvas.heatmap"), grad: box("canvas.grad-heatmap"), xAxis: box("svg.x-axis"),
          chart: box("svg.chart"), legend: box(".chart-legend"), panel: box(".panel-grid")};
}"""


def test_panel_geometry_with_and_without_gradient_records(servers, page):
    tab, frame = open_tab(page, servers["data"], runs=["relu"])
    for tag, gradients in [("dense", True), ("dense_1", False)]:
        show_panel(tab, "relu", tag, "gradients" if gradients else "drawn")
        g = frame.evaluate(GEOMETRY_JS, panel_selector("relu", tag))
        assert g["grad"]["shown"] is gradients
        above_axis = g["grad"] if gradients else g["heatmap"]
        assert abs(g["xAxis"]["top"] - above_axis["bottom"]) <= 1, (tag, g)  # the step axis right under its heatmap
        assert abs(g["chart"]["top"] - g["xAxis"]["bottom"]) <= 1, (tag, g)
        for part in ("xAxis", "chart", "legend"):  # in the heatmap's column, as wide as it
            assert abs(g[part]["left"] - g["heatmap"]["left"]) <= 1, (tag, part, g)
            assert abs(g[part]["width"] - g["heatmap"]["width"]) <= 1, (tag, part, g)
        assert g["legend"]["top"] >= g["chart"]["bottom"] - 1, (tag, g)
        assert g["heatmap"]["width"] > 300


def test_reload_shows_a_run_rewritten_with_the_same_steps(servers, page):
    tab, frame = open_tab(page, servers["fast"], runs=["rewrite"])
    show_panel(tab, "rewrite", "dense")
    assert [pixel(frame, "rewrite", "dense", 1, u)[0] for u in range(3)] == [DEAD_RGB, scale_rgb(0.0), scale_rgb(0.0)]
    before = get_json(servers["fast"] + "/data/plugin/deadrelu/tags")["rewrite"]["dense"]
    write_at(str(servers["fast_logdir"] / "rewrite"), "dense", REWRITE_AFTER, [0, 1], COUNT, 1_700_000_000)
    tensorboard_process.wait_until(
        lambda: get_json(servers["fast"] + "/data/plugin/deadrelu/heatmap?run=rewrite&tag=dense")["zeros"] == REWRITE_AFTER.tolist(),
        "tensorboard to serve the rewritten run",
        timeout=30,
    )
    after = get_json(servers["fast"] + "/data/plugin/deadrelu/tags")["rewrite"]["dense"]
    assert (after["units"], after["last_step"]) == (before["units"], before["last_step"])
    page.locator("button.reload-button").click()
    frame.wait_for_function(
        """([run, tag, rgb]) => {
             const c = [...document.querySelectorAll('canvas.heatmap')].find(c => c.dataset.run === run && c.dataset.tag === tag);
             const d = c && c.getContext('2d').getImageData(1, 0, 1, 1).data;
             return Boolean(d) && d[0] === rgb[0] && d[1] === rgb[1] && d[2] === rgb[2];
           }""",
        arg=["rewrite", "dense", list(scale_rgb(0.0))],
    )
    assert [pixel(frame, "rewrite", "dense", 1, u)[0] for u in range(3)] == [scale_rgb(0.0), DEAD_RGB, DEAD_RGB]


def test_api_failure_shows_a_message_not_a_blank_tab(servers, page):
    """Runs last: it stops the data TensorBoard, then asks the tab for fresh data.

    The panels already drawn stay (as in TensorBoard's own tabs) but are marked stale:
    dimmed, and the message says that what is shown is older data."""
    tab, _ = open_tab(page, servers["data"])
    panels = tab.locator(".panel").count()
    assert panels > 0
    assert tab.locator(".deadrelu[data-stale]").count() == 0
    servers["data_process"].kill()
    servers["data_process"].wait()
    tab.locator(".run-option", has_text="grow").locator("input").uncheck()
    alert = tab.locator(".message.error[role=alert]")
    alert.wait_for()
    text = alert.inner_text()
    assert "cannot reach TensorBoard" in text
    assert re.search(r"could not refresh: .* showing data from \d{1,2}:\d{2}:\d{2}", text), text
    assert tab.locator(".deadrelu[data-state=error][data-stale]").count() == 1
    assert tab.locator(".panel").count() == panels
    for holder in (".run-sections", ".network-holder"):
        assert tab.locator(holder).evaluate("e => getComputedStyle(e).opacity") == "0.4"

