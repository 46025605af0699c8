"""The plugin's command-line options and their defaults, read by the loader and the plugin.

Standard library only: the loader, which TensorBoard imports at startup, imports it.
"""

import argparse

PLUGIN_NAME = "deadrelu"  # == metadata.PLUGIN_NAME, kept literal to keep this import light

# Steps kept per (run, layer) unless the user says otherwise. TensorBoard's
# defaults for a third-party plugin (100 with the fast loader, 10 with
# --load_fast=false) would show a random tenth of a 1,000-epoch run. A record
# costs about 8 bytes per unit in TensorBoard's memory, so 2,000 steps of a
# 4,096-unit layer hold ~65 MB; ``--samples_per_plugin deadrelu=0`` keeps all.
DEFAULT_SAMPLES_PER_TAG = 2000

# What the plugin's caches (series read, encoded heatmaps, per-layer summaries)
# may hold together, in MB.
DEFAULT_CACHE_MB = 512
CACHE_FLAG = "--deadrelu_cache_mb"


def megabytes(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of megabytes >= 1, got %r" % text) from None
    if not 1 <= value < float("inf"):
        raise argparse.ArgumentTypeError("must be a number of megabytes >= 1, got %r" % text)
    return value
