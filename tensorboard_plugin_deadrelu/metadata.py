"""``tensorboard_plugin_deadrelu.metadata``: the public name of :mod:`tensorboard_plugin_deadrelu.core.metadata`.

``from tensorboard_plugin_deadrelu import metadata`` gives that very module (one
module object under two names), so user code written for 0.1 keeps working.
"""

import sys

from tensorboard_plugin_deadrelu.core import metadata

sys.modules[__name__] = metadata
