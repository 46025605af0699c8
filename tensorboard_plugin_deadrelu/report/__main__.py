"""``python -m tensorboard_plugin_deadrelu.report LOGDIR [options]``, the same as ``deadrelu report``."""

import sys

from tensorboard_plugin_deadrelu.report import cli

sys.exit(cli.main(["report"] + sys.argv[1:]))
