"""Native PyTorch integration: :class:`DeadReluMonitor`, forward hooks on ReLU modules.

``from tensorboard_plugin_deadrelu.torch import DeadReluMonitor`` is the entry
point; it imports torch (the rest of the package does not) and writes through
:mod:`tensorboard_plugin_deadrelu.writing.event_writer`, without TensorFlow. The
modules, one concern each:

* ``monitor``   the monitor: hooks, write(), probe(), the records it writes;
* ``modules``   which modules to watch (the ReLU family, names, tags, units axis);
* ``sums``      one module's per-unit sums on its device, read back once per write;
* ``gradients`` capturing d(loss)/d(pre-activation) in a probe, and the summed loss.

Inside this subpackage ``import torch`` is the PyTorch library (imports are
absolute); the subpackage itself is always named in full.
"""

from tensorboard_plugin_deadrelu.torch.modules import RELU_FAMILY, is_relu_family
from tensorboard_plugin_deadrelu.torch.monitor import DeadReluMonitor

__all__ = ["DeadReluMonitor", "RELU_FAMILY", "is_relu_family"]
