"""Recycled units (ReDo) in the Dead ReLU tab, end to end: a logdir written by the torch
monitor with ``recycle()``, a real ``tensorboard`` and headless Chromium.

The marker's pixel at the recycled (unit, step) cell has the marker colour (and no other
cell of the layer has a marker, nor any cell of a layer without recycling), the chart has
a "recycled" series, the tooltip says "recycled at step 1" (and "dead again" where the
unit died once more), the summary counts them, and a 4,096-unit layer marks the
aggregated row holding the recycled unit. Screenshots go to /tmp/recycled_*.png.
"""

import contextlib
import json

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from tensorboard_plugin_deadrelu.torch import DeadReluMonitor  # noqa: E402
from tests import browser as chromium  # noqa: E402
from tests import tensorboard_process  # noqa: E402
from tests.tensorboard_process import get_json  # noqa: E402
from tests.test_tab_e2e import open_tab, panel_selector, show_panel, tooltip_rows  # noqa: E402

pytestmark = pytest.mark.slow  # starts processes: see tests/conftest.py

RECYCLED_RGB = (0, 158, 115)  # frontend/colors.js RECYCLED_RGB
DEAD_UNIT = 1
STEPS = [0, 1, 2, 3, 4]
RECYCLE_AFTER = 1
DEAD_AGAIN_FROM = 3  # the unit's bias is set to -100 again before this step's record
WIDE_UNITS = 4096
WIDE_DEAD = [17, 2048, 4095]


def symmetric_inputs(rows, features):
    """Rows x and -x: a unit with any nonzero weight row is positive on one of each pair."""
    g = torch.Generator().manual_seed(0)
    half = torch.rand(rows // 2, features, generator=g) + 0.1
    return torch.cat([half, -half])


def write_small(run_dir):
    """Layer "1": 6 units, unit 1 dead at steps 0-1, recycled after step 1, alive at 2, dead again at 3-4.
    Layer "3": 5 units, never recycled."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    with torch.no_grad():
        model[0].bias.fill_(1.0)
        model[0].bias[DEAD_UNIT] = -100.0
        model[2].bias.fill_(3.0)
    x = symmetric_inputs(32, 4)
    recycled = {}
    with DeadReluMonitor(model, str(run_dir)) as monitor:
        for step in STEPS:
            if step == DEAD_AGAIN_FROM:
                with torch.no_grad():
                    model[0].bias[DEAD_UNIT] = -100.0
            model(x)
            monitor.write(step=step)
            if step == RECYCLE_AFTER:
                recycled = monitor.recycle(None)
    assert recycled == {"1": [DEAD_UNIT], "3": []}


def write_wide(run_dir):
    """Layer "1": 4,096 units, WIDE_DEAD dead at steps 0-1 and recycled after step 1."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, WIDE_UNITS), nn.ReLU(), nn.Linear(WIDE_UNITS, 3))
    with torch.no_grad():
        model[0].bias.fill_(1.0)
        model[0].bias[WIDE_DEAD] = -100.0
    x = symmetric_inputs(16, 4)
    with DeadReluMonitor(model, str(run_dir)) as monitor:
        for step in range(4):
            model(x)
            monitor.write(step=step)
            if step == RECYCLE_AFTER:
                assert monitor.recycle(None) == {"1": WIDE_DEAD}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("recycled_logs")
    write_small(logdir / "small")
    write_wide(logdir / "wide")
    with tensorboard_process.running(logdir, "--load_fast=false") as tensorboard:
        tensorboard_process.wait_for_runs(tensorboard, {"small", "wide"})
        yield tensorboard.url


@pytest.fixture(scope="module")
def browser():
    with chromium.headless_chromium() as browser:
        yield browser


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


MARKER_JS = """([run, tag]) => {
  const heatmap = [...document.querySelectorAll("canvas.heatmap")].find(c => c.dataset.run === run && c.dataset.tag === tag);
  const overlay = [...document.querySelectorAll("canvas.recycled-markers")].find(c => c.dataset.run === run && c.dataset.tag === tag);
  if (!heatmap || !overlay) return null;
  const {width, height} = overlay;
  const data = Array.from(overlay.getContext("2d").getImageData(0, 0, width, height).data);
  return {rows: Number(heatmap.dataset.rows), cols: Number(heatmap.dataset.cols), width, height, data,
          marks: Number(overlay.dataset.marks)};
}"""


def markers(frame, run, tag):
    found = frame.evaluate(MARKER_JS, [run, tag])
    assert found is not None, "no heatmap or marker canvas for %s/%s" % (run, tag)
    return found


def rgba_at_cell(found, row, col):
    """RGBA of the marker canvas at the centre of grid cell (row, col)."""
    x = int((col + 0.5) / found["cols"] * found["width"])
    y = int((row + 0.5) / found["rows"] * found["height"])
    i = 4 * (y * found["width"] + x)
    return tuple(found["data"][i:i + 4])


def opaque_pixels(found):
    return sum(1 for a in found["data"][3::4] if a > 0)


def hover_cell(tab, run, tag, row, col, rows, cols):
    canvas = tab.locator("canvas.heatmap[data-run=%s][data-tag=%s]" % (json.dumps(run), json.dumps(tag)))
    box = canvas.bounding_box()
    canvas.hover(position={"x": (col + 0.5) / cols * box["width"], "y": (row + 0.5) / rows * box["height"]})
    return tooltip_rows(tab)


def test_overview_lists_the_recycled_units(server):
    body = get_json(server + "/data/plugin/deadrelu/overview?run=small&per_unit=0")
    layers = {layer["tag"]: layer for layer in body["layers"]}
    assert layers["1"]["recycled"] == [[RECYCLE_AFTER, [DEAD_UNIT]]]
    assert "recycled" not in layers["3"]


def test_recycled_unit_is_marked_charted_and_described(server, page):
    tab, frame = open_tab(page, server, runs=["small"])
    show_panel(tab, "small", "1", "details")
    show_panel(tab, "small", "3")
    panel = tab.locator(panel_selector("small", "1"))
    # The overview (which holds the recycled units) may arrive after the panel's heatmap.
    frame.wait_for_function("() => document.querySelector('canvas.recycled-markers[data-tag=\"1\"]')?.dataset.marks === '1'")

    found = markers(frame, "small", "1")
    assert (found["rows"], found["cols"]) == (6, len(STEPS))
    assert found["marks"] == 1
    assert rgba_at_cell(found, DEAD_UNIT, STEPS.index(RECYCLE_AFTER)) == RECYCLED_RGB + (255,)
    for row in range(6):
        for col in range(len(STEPS)):
            if (row, col) != (DEAD_UNIT, STEPS.index(RECYCLE_AFTER)):
                assert rgba_at_cell(found, row, col)[3] == 0, (row, col)
    other = markers(frame, "small", "3")
    assert other["marks"] == 0 and opaque_pixels(other) == 0

    assert panel.locator("svg.chart polyline[data-series=recycled]").count() == 1
    assert "recycled" in panel.locator(".chart-legend").inner_text()
    assert tab.locator(panel_selector("small", "3") + " svg.chart polyline[data-series=recycled]").count() == 0
    assert "· 1 recycled" in panel.locator(".layer-summary").inner_text()
    assert "recycled" not in tab.locator(panel_selector("small", "3") + " .layer-summary").inner_text()
    assert "recycled" in tab.locator(".legend-recycled").inner_text()

    rows = hover_cell(tab, "small", "1", DEAD_UNIT, STEPS.index(RECYCLE_AFTER), 6, len(STEPS))
    assert rows["step"] == str(RECYCLE_AFTER) and rows["recycled"] == "recycled at step 1"
    rows = hover_cell(tab, "small", "1", DEAD_UNIT, STEPS.index(2), 6, len(STEPS))
    assert rows["recycled"] == "recycled at step 1"
    rows = hover_cell(tab, "small", "1", DEAD_UNIT, STEPS.index(DEAD_AGAIN_FROM), 6, len(STEPS))
    assert rows["recycled"] == "recycled at step 1 — dead again at step 3"
    rows = hover_cell(tab, "small", "1", DEAD_UNIT, 0, 6, len(STEPS))
    assert "recycled" not in rows
    page.mouse.move(0, 0)
    panel.screenshot(path="/tmp/recycled_small.png")

    # The dormant colouring keeps the marker.
    tab.locator("select[name=metric]").select_option("dormant")
    frame.wait_for_function("() => document.querySelector('.panel[data-tag=\"1\"] .layer-summary').textContent.includes('dormant')")
    found = markers(frame, "small", "1")
    assert rgba_at_cell(found, DEAD_UNIT, STEPS.index(RECYCLE_AFTER)) == RECYCLED_RGB + (255,)
    panel.screenshot(path="/tmp/recycled_small_dormant.png")
    assert page.errors == []


def test_wide_layer_marks_the_aggregated_rows_of_recycled_units(server, page):
    tab, frame = open_tab(page, server, runs=["wide"])
    show_panel(tab, "wide", "1", "details")
    frame.wait_for_function("() => document.querySelector('canvas.recycled-markers[data-run=\"wide\"]')?.dataset.marks === '3'")
    found = markers(frame, "wide", "1")
    rows, cols = found["rows"], found["cols"]
    assert rows < WIDE_UNITS and cols == 4
    for unit in WIDE_DEAD:
        row = unit * rows // WIDE_UNITS
        assert rgba_at_cell(found, row, RECYCLE_AFTER) == RECYCLED_RGB + (255,), unit
    assert rgba_at_cell(found, 100, RECYCLE_AFTER)[3] == 0
    assert rgba_at_cell(found, WIDE_DEAD[0] * rows // WIDE_UNITS, 0)[3] == 0
    panel = tab.locator(panel_selector("wide", "1"))
    assert "· 3 recycled" in panel.locator(".layer-summary").inner_text()
    tip = hover_cell(tab, "wide", "1", WIDE_DEAD[1] * rows // WIDE_UNITS, RECYCLE_AFTER, rows, cols)
    assert tip["recycled in this cell"] == "%d (step 1)" % WIDE_DEAD[1]
    page.mouse.move(0, 0)
    panel.screenshot(path="/tmp/recycled_wide.png")
    with contextlib.suppress(Exception):
        page.screenshot(path="/tmp/recycled_page.png")
    assert page.errors == []
