"""``tensorboard_plugin_deadrelu.distributed``: the public name of :mod:`tensorboard_plugin_deadrelu.writing.distributed`.

``from tensorboard_plugin_deadrelu import distributed`` gives that very module (one
module object under two names), so user code written for 0.1 keeps working.
"""

import sys

from tensorboard_plugin_deadrelu.writing import distributed

sys.modules[__name__] = distributed
