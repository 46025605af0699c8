"""Hugging Face ``transformers`` integration: :class:`DeadReluCallback`, a ``TrainerCallback``.

``from tensorboard_plugin_deadrelu.transformers import DeadReluCallback``
imports ``transformers``; the callback is a thin layer over the native
PyTorch monitor (:class:`tensorboard_plugin_deadrelu.torch.DeadReluMonitor`),
which counts, sums over ranks and writes through the shared record loop.
"""

from tensorboard_plugin_deadrelu.transformers.callback import DeadReluCallback, tensorboard_log_dir

__all__ = ["DeadReluCallback", "tensorboard_log_dir"]
