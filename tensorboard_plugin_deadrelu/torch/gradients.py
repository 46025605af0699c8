"""Gradients of the probe loss with respect to the watched modules' pre-activations.

A watched module's pre-activation is its input ``z``. During a probe with
targets, a forward pre-hook passes ``z`` through :class:`CaptureGradient`, an
identity whose backward hands over the gradient it receives: the gradient of
the loss with respect to ``z`` through this activation only (not through a
skip connection that also reads ``z``), as the Keras monitor records it. The
identity returns a copy, so an ``inplace=True`` activation overwrites the
copy and ``z`` keeps the pre-activation. The loss differentiated is the sum
over probe examples of the per-example losses (:func:`summed_loss`).
"""

import copy

import torch
from torch import nn


class CaptureGradient(torch.autograd.Function):
    """Identity on ``z`` (as a copy) whose backward calls ``receive(grad)`` and passes ``grad`` on."""

    @staticmethod
    def forward(ctx, z, receive):
        ctx.receive = receive
        return z.clone()

    @staticmethod
    def backward(ctx, grad):
        ctx.receive(grad)
        return grad, None


def summed_loss(loss_fn):
    """``(outputs, targets) -> scalar``: the sum over examples of ``loss_fn``'s per-example losses.

    A sum, not a mean, so that d(loss)/dz of one example is the gradient of
    that example's own loss, whatever the number of probe rows. A
    ``torch.nn`` loss (``nn.CrossEntropyLoss()``, ...) is copied with
    ``reduction="sum"``; any other callable must return per-example losses
    (or their sum), which are summed.

    Raises:
      ValueError: naming ``loss_fn`` when it is missing or not callable.
    """
    if loss_fn is None:
        raise ValueError(
            "loss_fn is needed with targets: pass loss_fn=(outputs, targets) -> per-example "
            "losses, e.g. nn.CrossEntropyLoss() (used with reduction='sum')"
        )
    if not callable(loss_fn):
        raise ValueError("loss_fn must be callable (outputs, targets) -> losses, got %r" % (loss_fn,))
    if isinstance(loss_fn, nn.Module) and getattr(loss_fn, "reduction", None) in ("mean", "none", "batchmean"):
        loss_fn = copy.copy(loss_fn)
        loss_fn.reduction = "sum"

    def loss(outputs, targets):
        value = loss_fn(outputs, targets)
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise ValueError("loss_fn must return a float tensor of losses, got %r" % (type(value).__name__,))
        return value.sum()

    return loss
