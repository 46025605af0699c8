"""Regenerates docs/screenshot.png: the Dead ReLU tab in headless Chromium.

    python -m experiments --quick --logdir logs/article
    python docs/screenshot.py logs/article

Starts ``tensorboard`` on LOGDIR (free loopback port), opens the tab with the
runs below selected, and saves the tab's part of the page.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests import tensorboard_process  # noqa: E402
from tests.browser import headless_chromium  # noqa: E402

# Two runs that show the phenomenon in both views: born-dead layers that also
# freeze the living first layer (zero gradient), and units dying during training.
RUNS = ["negative_weights/three_layers", "three_layers/relu"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir")
    parser.add_argument("--runs", nargs="+", default=RUNS)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "screenshot.png"))
    parser.add_argument("--height", type=int, default=1190)
    parser.add_argument("--metric", choices=["zeros", "dormant"], default="zeros")
    args = parser.parse_args()

    with tensorboard_process.running(args.logdir, "--load_fast=false") as tensorboard:
        tensorboard_process.wait_for_runs(tensorboard, args.runs, timeout=120, exact=False)
        settings = json.dumps({"runs": args.runs, "metric": args.metric})
        with headless_chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": args.height})
            page.add_init_script("localStorage.setItem('deadrelu.settings.v1', %s)" % json.dumps(settings))
            page.goto(tensorboard.url + "/#deadrelu")
            page.frame_locator("iframe").locator(".deadrelu[data-gradients=loaded]").wait_for(timeout=60_000)
            page.screenshot(path=args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
