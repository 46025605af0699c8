"""Headless Debian Chromium through Playwright, for the tab's end-to-end tests,
``benchmarks/bench_tab.py`` and ``docs/screenshot.py``.

Playwright's own browsers are never downloaded: the system's ``/usr/bin/chromium``
runs with flags that keep it off the network (no sync, updates or background
requests) and working without a GPU or sandbox. The helpers below read the
``performance.measure`` entries the tab records around its draws.
"""

import contextlib

from playwright import sync_api as playwright_api

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DRAW_MEASURE = "deadrelu:draw"


@contextlib.contextmanager
def headless_chromium():
    """Yields a Playwright ``Browser`` running Debian's Chromium headless; closes it afterwards."""
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def measure_durations(frame, prefix=DRAW_MEASURE):
    """Durations (ms) of the ``performance.measure`` entries in ``frame`` whose name starts with ``prefix``, oldest first."""
    return frame.evaluate(
        "p => performance.getEntriesByType('measure').filter(m => m.name.startsWith(p)).map(m => m.duration)", prefix
    )


def wait_for_new_measure(frame, count_before, prefix=DRAW_MEASURE):
    """Waits until ``frame`` has more than ``count_before`` measures named ``prefix...`` (a draw has finished)."""
    frame.wait_for_function(
        "([n, p]) => performance.getEntriesByType('measure').filter(m => m.name.startsWith(p)).length > n",
        arg=[count_before, prefix],
    )
