"""Dead ReLU: per-unit activation statistics for TensorBoard.

* ``tensorboard_plugin_deadrelu.writing.summary`` writes records (TF op, accumulator,
  numpy twin);
* ``tensorboard_plugin_deadrelu.keras`` holds the Keras 3 callback;
* the TensorBoard plugin adds the **Dead ReLU** tab.

Importing this package does not import TensorFlow.
"""

__version__ = "0.1.0"
