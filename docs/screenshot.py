"""Regenerates docs/screenshot.png: the Dead ReLU tab in headless Chromium.

    python -m experiments --quick --logdir logs/article
    python docs/screenshot.py logs/article

Starts ``tensorboard`` on LOGDIR (free loopback port), opens the tab with the
runs below selected, and saves the tab's part of the page.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

RUNS = ["initializers/he_normal", "initializers/random_uniform", "negative_weights/three_layers", "three_layers/relu"]
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir")
    parser.add_argument("--runs", nargs="+", default=RUNS)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "screenshot.png"))
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--metric", choices=["zeros", "dormant"], default="zeros")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = "http://127.0.0.1:%d" % port
    process = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", args.logdir, "--host", "127.0.0.1",
         "--port", str(port), "--load_fast=false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/data/plugin/deadrelu/tags", timeout=5) as r:
                    if set(args.runs) <= set(json.load(r)):
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise SystemExit("tensorboard did not serve runs %s" % args.runs)
            time.sleep(0.5)
        settings = json.dumps({"runs": args.runs, "metric": args.metric})
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": args.height})
            page.add_init_script("localStorage.setItem('deadrelu.settings.v1', %s)" % json.dumps(settings))
            page.goto(url + "/#deadrelu")
            page.frame_locator("iframe").locator(".deadrelu[data-details=loaded]").wait_for(timeout=60_000)
            page.screenshot(path=args.out)
            browser.close()
        print("wrote", args.out)
    finally:
        process.kill()
        process.wait()


if __name__ == "__main__":
    main()
