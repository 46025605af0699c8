"""The entry point TensorBoard loads at startup (``tensorboard_plugins`` group).

An exception while importing this module would take all of TensorBoard down,
so it imports only TensorBoard's plugin base; the plugin itself (numpy, the
reader) is imported when TensorBoard asks for it.
"""

import argparse

from tensorboard.plugins import base_plugin

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


def _megabytes(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of megabytes >= 1, got %r" % text) from None
    if not 1 <= value < float("inf"):
        raise argparse.ArgumentTypeError("must be a number of megabytes >= 1, got %r" % text)
    return value


class DeadReluLoader(base_plugin.TBLoader):
    """Loads the Dead ReLU plugin, raises TensorBoard's sampling for it and
    adds ``--deadrelu_cache_mb``."""

    def define_flags(self, parser):
        """Adds ``--deadrelu_cache_mb`` (default :data:`DEFAULT_CACHE_MB`).

        Twice registered loaders (an entry point plus an explicit plugin list)
        must not clash: argparse refuses a flag defined twice.
        """
        if CACHE_FLAG in getattr(parser, "_option_string_actions", {}):
            return
        group = parser.add_argument_group(PLUGIN_NAME)
        group.add_argument(
            CACHE_FLAG,
            metavar="MB",
            type=_megabytes,
            default=DEFAULT_CACHE_MB,
            help="Memory the Dead ReLU plugin may use for its caches of layers read, "
            "encoded heatmaps and per-layer summaries; least recently used go first "
            "(default: %(default)s).",
        )

    def fix_flags(self, flags):
        """Keeps :data:`DEFAULT_SAMPLES_PER_TAG` steps per (run, layer) by default.

        ``flags.samples_per_plugin`` is the ``{plugin: int}`` dict TensorBoard
        parsed from ``--samples_per_plugin``; a value the user gave there wins.
        Both data loaders read this dict after ``fix_flags`` runs.
        """
        samples = getattr(flags, "samples_per_plugin", None)
        if samples is None:
            samples = {}
            flags.samples_per_plugin = samples
        if isinstance(samples, dict):
            samples.setdefault(PLUGIN_NAME, DEFAULT_SAMPLES_PER_TAG)

    def load(self, context):
        from tensorboard_plugin_deadrelu import plugin  # numpy and the reader: only when used

        return plugin.DeadReluPlugin(context)
