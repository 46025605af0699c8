"""Gradients of the loss with respect to the monitored layers' pre-activations.

Which layers have a pre-activation the monitor can see, capturing it while the
probe runs (each backend marks it for differentiation its own way), and the
loss differentiated: the sum over probe examples of their per-example losses,
in ``keras.ops`` so that it serves every backend.
"""

import contextlib
import copy

import keras

from tensorboard_plugin_deadrelu.keras.taps import patch_attribute

# Layers that are an activation alone: the pre-activation is their input.
ACTIVATION_LAYERS = (
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Softmax,
)


def _has_fused_activation(layer):
    """Whether ``layer`` computes ``activation(z)`` with its own ``activation`` attribute.

    True for Dense, Conv and kin, and for ``keras.layers.Activation``; their
    ``call`` looks the function up on the instance, so it can be wrapped there.
    """
    return (
        not isinstance(layer, keras.layers.RNN)
        and "activation" in vars(layer)
        and callable(layer.activation)
    )


def check_gradients_visible(layers):
    """Raises ValueError naming ``record_gradients`` for a layer without a visible pre-activation."""
    for layer in layers:
        if not (_has_fused_activation(layer) or isinstance(layer, ACTIVATION_LAYERS)):
            raise ValueError(
                "record_gradients: layer %r (%s) has no pre-activation the monitor can see "
                "(it must have an `activation` argument, like Dense or Conv2D, or be an "
                "activation layer such as ReLU or Activation); leave it out of layers= or "
                "pass record_gradients=False" % (layer.name, type(layer).__name__)
            )


@contextlib.contextmanager
def watching_preactivations(layers, watch, captured):
    """Within the block, each call of ``layers[i]`` appends its watched pre-activation to ``captured[i]``.

    ``watch(z)`` returns a copy of the pre-activation ``z`` that the backend
    can differentiate with respect to (TensorFlow: ``tf.identity`` watched by
    a tape; PyTorch: a view; JAX: ``z`` plus a zero the gradient is taken
    for). The copy feeds only the activation, so its gradient is the one that
    flows through the unit's activation (not through a skip connection that
    also reads ``z``), and the layer's output is unchanged. Everything is
    restored on exit.
    """
    restorers = []

    def watched(index, z):
        z = watch(z)
        captured[index].append(z)
        return z

    try:
        for index, layer in enumerate(layers):
            if _has_fused_activation(layer):
                activation = layer.activation

                def wrapped_activation(z, index=index, activation=activation):
                    return activation(watched(index, z))

                restorers.append(patch_attribute(layer, "activation", wrapped_activation))
            else:
                call = layer.call

                def wrapped_call(inputs, *args, index=index, call=call, **kwargs):
                    return call(watched(index, inputs), *args, **kwargs)

                restorers.append(patch_attribute(layer, "call", wrapped_call))
        yield
    finally:
        while restorers:
            restorers.pop()()


def summed_loss(model, loss_fn):
    """``loss(y, y_pred, sample_weight)``: the sum over examples of the per-example losses.

    A sum, not a mean, so that d(loss)/dz of one example is the gradient of
    that example's own loss, whatever the number of probe rows. Uses
    ``loss_fn`` when given, else the model's compiled loss.

    Raises:
      ValueError: naming ``loss_fn`` when neither gives one loss to use.
    """
    loss = loss_fn
    if loss is None:
        loss = getattr(model, "loss", None)
        if loss is None:
            raise ValueError(
                "record_gradients needs a loss: model %r was compiled without one; pass "
                "loss_fn=(y_true, y_pred) -> per-example losses" % model.name
            )
        if isinstance(loss, (list, tuple, dict)):
            raise ValueError(
                "record_gradients: model %r was compiled with several losses (%s); pass "
                "loss_fn=(y_true, y_pred) -> per-example losses" % (model.name, type(loss).__name__)
            )
        if isinstance(loss, str):
            loss = keras.losses.get(loss)
    compiled = loss_fn is None

    def check_outputs(y_pred):
        outputs = len(keras.tree.flatten(y_pred))
        if compiled and outputs != 1:
            raise ValueError(
                "record_gradients: model %r has %d outputs; pass loss_fn=(y_true, y_pred) -> "
                "per-example losses, which gets them as the model returns them" % (model.name, outputs)
            )

    if isinstance(loss, keras.losses.Loss):
        summing = copy.copy(loss)
        summing.reduction = "sum"

        def summed(y, y_pred, sample_weight):
            check_outputs(y_pred)
            return summing(y, y_pred, sample_weight=sample_weight)

    elif callable(loss):

        def summed(y, y_pred, sample_weight):
            check_outputs(y_pred)
            ops = keras.ops
            per_example = ops.convert_to_tensor(loss(y, y_pred))
            if len(per_example.shape) == 0:
                raise ValueError(
                    "loss_fn must return one loss per example (shape [batch, ...]), got a scalar; "
                    "the monitor sums them itself"
                )
            if sample_weight is not None:
                weights = ops.cast(sample_weight, per_example.dtype)
                while len(weights.shape) < len(per_example.shape):
                    weights = ops.expand_dims(weights, -1)
                per_example = per_example * weights
            return ops.sum(per_example)

    else:
        raise ValueError("loss_fn must be a callable (y_true, y_pred) -> per-example losses, got %r" % (loss,))
    return summed
