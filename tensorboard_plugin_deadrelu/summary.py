"""``tensorboard_plugin_deadrelu.summary``: the public name of :mod:`tensorboard_plugin_deadrelu.writing.summary`.

``from tensorboard_plugin_deadrelu import summary`` gives that very module (one
module object under two names), so user code written for 0.1 keeps working.
"""

import sys

from tensorboard_plugin_deadrelu.writing import summary

sys.modules[__name__] = summary
