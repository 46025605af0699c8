"""The entry point TensorBoard loads at startup (``tensorboard_plugins`` group).

An exception while importing this module would take all of TensorBoard down,
so it imports only TensorBoard's plugin base; the plugin itself (numpy, the
reader) is imported when TensorBoard asks for it.
"""

from tensorboard.plugins import base_plugin

from tensorboard_plugin_deadrelu.server import options


class DeadReluLoader(base_plugin.TBLoader):
    """Loads the Dead ReLU plugin, raises TensorBoard's sampling for it and
    adds ``--deadrelu_cache_mb``."""

    def define_flags(self, parser):
        """Adds ``--deadrelu_cache_mb`` (default :data:`options.DEFAULT_CACHE_MB`).

        Twice registered loaders (an entry point plus an explicit plugin list)
        must not clash: argparse refuses a flag defined twice.
        """
        if options.CACHE_FLAG in getattr(parser, "_option_string_actions", {}):
            return
        group = parser.add_argument_group(options.PLUGIN_NAME)
        group.add_argument(
            options.CACHE_FLAG,
            metavar="MB",
            type=options.megabytes,
            default=options.DEFAULT_CACHE_MB,
            help="Memory the Dead ReLU plugin may use for its caches of layers read, "
            "encoded heatmaps and per-layer summaries; least recently used go first "
            "(default: %(default)s).",
        )

    def fix_flags(self, flags):
        """Keeps :data:`options.DEFAULT_SAMPLES_PER_TAG` steps per (run, layer) by default.

        ``flags.samples_per_plugin`` is the ``{plugin: int}`` dict TensorBoard
        parsed from ``--samples_per_plugin``; a value the user gave there wins.
        Both data loaders read this dict after ``fix_flags`` runs.
        """
        samples = getattr(flags, "samples_per_plugin", None)
        if samples is None:
            samples = {}
            flags.samples_per_plugin = samples
        if isinstance(samples, dict):
            samples.setdefault(options.PLUGIN_NAME, options.DEFAULT_SAMPLES_PER_TAG)

    def load(self, context):
        from tensorboard_plugin_deadrelu.server import plugin  # numpy and the reader: only when used

        return plugin.DeadReluPlugin(context)
