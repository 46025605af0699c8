"""PyTorch Lightning integration: :class:`DeadReluCallback`.

``from tensorboard_plugin_deadrelu.lightning import DeadReluCallback`` imports
``lightning.pytorch``; the callback is a thin layer over the native PyTorch
monitor (:class:`tensorboard_plugin_deadrelu.torch.DeadReluMonitor`), which
counts, sums over DDP ranks and writes through the shared record loop.
"""

from tensorboard_plugin_deadrelu.lightning.callback import DeadReluCallback

__all__ = ["DeadReluCallback"]
