"""End to end: the runs table, the run filter and the downloads of the Dead ReLU
tab in headless Chromium against a real ``tensorboard`` serving a generated
sweep (``tests/sweep_logdir.py``; one run without dead_fraction scalars, one
with gradient records). Every expected number is computed here with numpy.
"""

import io
import json

import numpy as np
import pytest
from PIL import Image

from tests import browser as chromium
from tests import tensorboard_process
from tests.sweep_logdir import COUNT, expected_row, sweep_names, write_sweep
from tests.test_tab_e2e import open_tab, show_panel

from tensorboard_plugin_deadrelu.core import ordering

pytestmark = pytest.mark.slow  # starts processes: see tests/conftest.py

RUNS = sweep_names(6)
NO_SCALARS = RUNS[4]
WITH_GRADIENTS = RUNS[5]
ORDERED = sorted(RUNS, key=ordering.natural_key)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("sweep")
    truth = write_sweep(logdir, RUNS, without_scalars={NO_SCALARS}, with_gradients={WITH_GRADIENTS})
    with tensorboard_process.running(logdir, "--load_fast=false", "--reload_interval", "0") as tensorboard:
        tensorboard_process.wait_for_runs(tensorboard, RUNS)
        yield tensorboard.url, truth


@pytest.fixture(scope="module")
def browser():
    with chromium.headless_chromium() as browser:
        yield browser


def new_page(browser, scale=1):
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, device_scale_factor=scale, accept_downloads=True)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return page


@pytest.fixture
def page(browser):
    page = new_page(browser)
    yield page
    page.context.close()


def table_rows(tab):
    """``[{key: cell text}]`` of the runs table's rows, top to bottom, with ``run`` from data-run."""
    tab.locator(".runs-table-holder[data-state=ready]").wait_for(timeout=30_000)
    return tab.locator(".runs-table tbody tr").evaluate_all(
        "rows => rows.map(r => Object.assign({run: r.dataset.run, selected: r.getAttribute('aria-selected')},"
        " ...[...r.cells].map(c => ({[c.dataset.key]: c.textContent}))))"
    )


def sections(frame):
    return frame.evaluate("[...document.querySelectorAll('.run-section')].map(s => s.dataset.run)")


def share_text(share):
    return "%.1f%%" % (100 * share)


def test_runs_table_has_every_runs_numbers_and_the_filter_narrows_it(sweep, page):
    url, truth = sweep
    tab, frame = open_tab(page, url)
    rows = table_rows(tab)
    assert [r["run"] for r in rows] == ORDERED
    for r in rows:
        want = expected_row(r["run"], truth[r["run"]], "records" if r["run"] == NO_SCALARS else "scalars")
        assert r["dead"] == str(want["dead"])
        assert r["units"] == str(want["units"])
        assert r["dead_share"] == share_text(want["dead_share"])
        assert r["worst_layer"] == want["worst_layer"]
        assert r["first_death_step"] == ("never" if want["first_death_step"] is None else str(want["first_death_step"]))
        assert r["zero_gradient_units"] == ("–" if want["zero_gradient_units"] is None else str(want["zero_gradient_units"]))
        assert r["source"] == want["source"]
    assert [r["run"] for r in rows if r["selected"] == "true"] == ORDERED[:4]  # the default: the first four

    tab.locator("input[name=run-filter]").fill(r"LR0\.1_")
    matching = [r for r in ORDERED if "lr0.1_" in r]
    page.wait_for_timeout(300)
    assert [r["run"] for r in table_rows(tab)] == matching
    assert tab.locator(".run-option .run-name").all_inner_texts() == matching
    assert sections(frame) == matching  # nothing chosen yet: the first four matching runs
    tab.locator("button.select-none").click()
    page.wait_for_timeout(300)
    assert sections(frame) == []
    assert [r["run"] for r in table_rows(tab) if r["selected"] == "true"] == []
    tab.locator("button.select-matching").click()
    tab.locator(".network[data-drawn=true]").wait_for()
    assert sections(frame) == matching
    assert [r["run"] for r in table_rows(tab) if r["selected"] == "true"] == matching

    tab.locator("input[name=run-filter]").fill("lr(")
    assert "invalid regular expression" in tab.locator(".filter-error").first.inner_text()
    tab.locator("input[name=run-filter]").fill("seed0$")
    tab.locator("button.select-matching").click()
    page.reload()
    tab = page.frame_locator("iframe")
    tab.locator(".deadrelu[data-state=ready]").wait_for(timeout=30_000)
    frame = next(f for f in page.frames if "plugin_entry.html?name=deadrelu" in f.url)
    assert tab.locator("input[name=run-filter]").input_value() == "seed0$"  # kept across reloads
    assert sections(frame) == ORDERED
    assert page.errors == []


def test_sorting_by_dead_share_and_picking_a_row(sweep, page):
    url, truth = sweep
    tab, frame = open_tab(page, url, runs=[])
    shares = {run: expected_row(run, layers, "")["dead_share"] for run, layers in truth.items()}
    tab.locator("button.sort-button[data-key=dead_share]").click()
    by_share = sorted(ORDERED, key=lambda run: (-shares[run], ordering.natural_key(run)))
    assert [r["run"] for r in table_rows(tab)] == by_share
    assert tab.locator("th[aria-sort=descending] button").get_attribute("data-key") == "dead_share"
    tab.locator("button.sort-button[data-key=dead_share]").press("Enter")  # headers are buttons
    assert [r["run"] for r in table_rows(tab)] == sorted(ORDERED, key=lambda run: (shares[run], ordering.natural_key(run)))
    worst = by_share[0]
    tab.locator(".runs-table tr[data-run=%s]" % json.dumps(worst)).click()
    tab.locator(".run-section[data-run=%s] .panel" % json.dumps(worst)).first.wait_for()
    assert sections(frame) == [worst]
    tab.locator(".network-run[data-run=%s] canvas" % json.dumps(worst)).wait_for()
    panels = frame.evaluate("r => [...document.querySelectorAll('.panel')].filter(p => p.dataset.run === r).map(p => p.dataset.tag)", worst)
    assert panels == [l.tag for l in truth[worst]]
    # Keyboard: focus another row, Space picks it too.
    other = by_share[1]
    tab.locator(".runs-table tr[data-run=%s]" % json.dumps(other)).focus()
    page.keyboard.press(" ")
    tab.locator(".run-section[data-run=%s]" % json.dumps(other)).wait_for()
    assert sections(frame) == sorted([worst, other], key=ordering.natural_key)
    # The sort is kept across reloads.
    page.reload()
    tab = page.frame_locator("iframe")
    assert [r["run"] for r in table_rows(tab)][0] == by_share[-1]
    assert page.errors == []


PIXEL_JS = """([selector, x, y]) => {
  const canvas = document.querySelector(selector);
  return Array.from(canvas.getContext("2d").getImageData(x, y, 1, 1).data).slice(0, 3);
}"""


def test_downloads_are_the_figure_and_its_numbers(sweep, browser, tmp_path):
    url, truth = sweep
    page = new_page(browser, scale=2)
    run = WITH_GRADIENTS
    layer = truth[run][1]
    tab, frame = open_tab(page, url, runs=[run])
    show_panel(tab, run, layer.tag)
    panel = tab.locator(".panel[data-run=%s][data-tag=%s]" % (json.dumps(run), json.dumps(layer.tag)))
    with page.expect_download() as info:
        panel.locator("button.download-png").click()
    download = info.value
    assert download.suggested_filename == "sweep_lr0.1_wd1e-4_seed0_%s.png" % layer.tag
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    download.save_as("/tmp/sweep_download_panel.png")  # to look at
    image = Image.open(path).convert("RGB")
    canvas = "canvas.heatmap[data-run=%s][data-tag=%s]" % (json.dumps(run), json.dumps(layer.tag))
    geometry = frame.evaluate(
        "s => { const c = document.querySelector(s); const r = c.getBoundingClientRect();"
        " return {cols: c.width, rows: c.height, width: r.width, height: r.height}; }",
        canvas,
    )
    # The layout the figure used: 12 px margins, a 24 px title, the 56 px unit axis left of the plot.
    plot_x, plot_y = 12 + 56, 12 + 24
    assert image.size[0] == 2 * int(np.ceil(plot_x + geometry["width"] + 12)) or image.size[0] > 2 * (plot_x + geometry["width"])
    assert image.size[1] > 2 * (plot_y + geometry["height"] + 34)
    assert (geometry["cols"], geometry["rows"]) == (len(layer.steps), layer.units)
    for s in range(geometry["cols"]):
        for u in range(geometry["rows"]):
            x = 2 * (plot_x + (s + 0.5) * geometry["width"] / geometry["cols"])
            y = 2 * (plot_y + (u + 0.5) * geometry["height"] / geometry["rows"])
            assert image.getpixel((int(x), int(y))) == tuple(frame.evaluate(PIXEL_JS, [canvas, s, u])), (s, u)
    # Title and axes are drawn: dark pixels in the title line and left of the plot.
    pixels = np.asarray(image)
    assert (pixels[2 * 12 : 2 * 36, :].min(axis=2) < 100).any()
    assert (pixels[2 * plot_y : 2 * (plot_y + 40), : 2 * plot_x].min(axis=2) < 160).any()

    with page.expect_download() as info:
        panel.locator("button.download-csv").click()
    assert info.value.suggested_filename == "sweep_lr0.1_wd1e-4_seed0_%s.csv" % layer.tag
    lines = open(info.value.path(), encoding="utf-8").read().splitlines()
    assert lines[0].split(",")[1:] == [str(step) for step in layer.steps]
    values = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    np.testing.assert_array_equal(values, (layer.zeros / COUNT).T)

    with page.expect_download() as info:
        tab.locator(".network-run[data-run=%s] button.download-csv" % json.dumps(run)).click()
    assert info.value.suggested_filename == "sweep_lr0.1_wd1e-4_seed0_network.csv"
    lines = open(info.value.path(), encoding="utf-8").read().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == [l.tag for l in truth[run]]
    shares = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    np.testing.assert_array_equal(shares, np.array([l.dead.sum(axis=1) / l.units for l in truth[run]]))
    with page.expect_download() as info:
        tab.locator(".network-run[data-run=%s] button.download-png" % json.dumps(run)).click()
    info.value.save_as("/tmp/sweep_download_network.png")
    network_png = Image.open(io.BytesIO(open(info.value.path(), "rb").read()))
    assert network_png.size[0] > 2 * (150 + 12) and network_png.mode in ("RGB", "RGBA")
    page.screenshot(path="/tmp/sweep_6runs_downloads.png")
    assert page.errors == []
    page.context.close()


def test_screenshot_of_the_runs_table(sweep, page):
    """Not an assertion of pixels: a picture of the tab with the runs table to look at (/tmp/sweep_6runs.png)."""
    url, _ = sweep
    tab, frame = open_tab(page, url)
    table_rows(tab)
    tab.locator(".network[data-drawn=true]").wait_for()
    page.screenshot(path="/tmp/sweep_6runs.png")
    box = tab.locator(".runs-table-holder").bounding_box()
    network = tab.locator(".network").bounding_box()
    assert box["y"] + box["height"] <= network["y"]  # the table sits above the whole-network view
    assert page.errors == []
