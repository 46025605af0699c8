"""``tensorboard_plugin_deadrelu.event_writer``: the public name of :mod:`tensorboard_plugin_deadrelu.writing.event_writer`.

``from tensorboard_plugin_deadrelu import event_writer`` gives that very module (one
module object under two names), so user code written for 0.1 keeps working.
"""

import sys

from tensorboard_plugin_deadrelu.writing import event_writer

sys.modules[__name__] = event_writer
