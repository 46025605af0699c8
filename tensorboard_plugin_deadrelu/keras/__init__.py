"""Keras 3 integration: the :class:`DeadReluMonitor` callback.

``from tensorboard_plugin_deadrelu.keras import DeadReluMonitor`` is the entry
point; it imports TensorFlow and Keras (the rest of the package does not).
The modules, one concern each:

* ``monitor``   the callback: fit() hooks, counting during training, probing, writing;
* ``layers``    which layers to monitor (the ReLU family, names, tags, units axis);
* ``taps``      seeing the monitored layers' outputs while a step is traced;
* ``gradients`` capturing pre-activations for gradients, and the summed loss;
* ``probe``     the probe sample: validating, cutting and checking ``probe_data``.

Inside this subpackage ``import keras`` is the Keras library (imports are
absolute); the subpackage itself is always named in full.
"""

from tensorboard_plugin_deadrelu.keras.layers import RELU_FAMILY, find_relu_layers, is_relu_family
from tensorboard_plugin_deadrelu.keras.monitor import DeadReluMonitor

__all__ = ["DeadReluMonitor", "RELU_FAMILY", "find_relu_layers", "is_relu_family"]
