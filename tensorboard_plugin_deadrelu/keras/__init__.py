"""Keras 3 integration: the :class:`DeadReluMonitor` callback.

``from tensorboard_plugin_deadrelu.keras import DeadReluMonitor`` is the entry
point; it imports Keras, and TensorFlow only on Keras's TensorFlow backend
(the JAX and PyTorch backends work without it). The modules, one concern each:

* ``monitor``   the callback: fit() hooks, steps, lending the counting train function, thresholds;
* ``counting``  counting inside each backend's train step (TensorFlow, JAX, PyTorch);
* ``probing``   one probe pass per backend, with gradients;
* ``writing``   the records of a step, into an event file open only while written;
* ``layers``    which layers to monitor (the ReLU family, names, tags, units axis);
* ``taps``      seeing the monitored layers' outputs while a step runs or is traced;
* ``gradients`` capturing pre-activations for gradients, and the summed loss;
* ``probe``     the probe sample: validating, cutting and checking ``probe_data``;
* ``recycling`` ReDo: resetting the dead units' weights and optimizer slots after a record.

Inside this subpackage ``import keras`` is the Keras library (imports are
absolute); the subpackage itself is always named in full.
"""

from tensorboard_plugin_deadrelu.keras.layers import RELU_FAMILY, find_relu_layers, is_relu_family
from tensorboard_plugin_deadrelu.keras.monitor import DeadReluMonitor
from tensorboard_plugin_deadrelu.keras.recycling import ReDo

__all__ = ["DeadReluMonitor", "ReDo", "RELU_FAMILY", "find_relu_layers", "is_relu_family"]
