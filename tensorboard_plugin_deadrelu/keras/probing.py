"""Running the probe: one inference pass over probe rows, on each Keras backend.

:func:`make_probe_function` returns ``probe(x, y, sample_weight)``, which runs
the model in inference mode on one chunk of probe rows with the monitored
layers tapped and returns, per layer, the sums over the chunk of its outputs
and (with ``summed_loss``) of the gradients of the summed loss with respect to
its pre-activations, as numpy (None for a layer the forward pass did not
call). TensorFlow traces it once into a ``tf.function``; JAX and PyTorch run
it eagerly (JAX differentiates with ``jax.grad``, PyTorch with
``torch.autograd.grad``), which for a probe of a few thousand rows costs about
as much as the one forward pass it is.
"""

import contextlib

import keras
import numpy as np

from tensorboard_plugin_deadrelu.writing import summary
from tensorboard_plugin_deadrelu.keras.gradients import watching_preactivations
from tensorboard_plugin_deadrelu.keras.layers import channels_first


def add_stats(total, stats):
    """The sum of two stats dicts, key by key (``total`` None: a copy of ``stats``)."""
    if total is None:
        return dict(stats)
    return {key: total[key] + stats[key] for key in total}


def _reduce_calls_np(layers, calls_per_layer):
    """Per layer, the numpy sums over all its calls' values (None for a layer not called)."""
    results = []
    for layer, calls in zip(layers, calls_per_layer):
        total = None
        for values in calls:
            total = add_stats(total, summary.reduce_activations_np(values, channels_first(layer)))
        results.append(total)
    return results


def make_probe_function(model, layers, tap, summed_loss=None):
    """``probe(x, y, sample_weight) -> (stats, gradient_stats)`` for the current Keras backend.

    ``summed_loss(y, y_pred, sample_weight)`` (see :func:`gradients.summed_loss`)
    turns gradients on; ``gradient_stats`` is None without it.
    """
    backend = keras.backend.backend()
    make = {"tensorflow": _tensorflow_probe, "jax": _jax_probe, "torch": _torch_probe}[backend]
    return make(model, layers, tap, summed_loss)


def _tensorflow_probe(model, layers, tap, summed_loss):
    import tensorflow as tf

    from tensorboard_plugin_deadrelu.keras.counting import silence_xla_startup_logs

    silence_xla_startup_logs()  # the reduction below is XLA-compiled, as in counting

    def reduce_calls(layer, calls):
        reduced = [summary.reduce_activations(call, channels_first(layer)) for call in calls]
        return {key: tf.add_n([r[key] for r in reduced]) for key in reduced[0]}

    # Plain Python over the layers, nothing for autograph to convert.
    @tf.function(reduce_retracing=True, autograph=False)
    def traced(x, y, sample_weight):
        outputs = [[] for _ in layers]
        preactivations = [[] for _ in layers]

        def watch(z):
            z = tf.identity(z)
            tape.watch(z)
            return z

        with contextlib.ExitStack() as stack:
            stack.enter_context(tap.active(lambda index, output: outputs[index].append(output)))
            if summed_loss is not None:
                # Only the watched pre-activations, not every variable read.
                tape = stack.enter_context(tf.GradientTape(watch_accessed_variables=False))
                stack.enter_context(watching_preactivations(layers, watch, preactivations))
            y_pred = model(x, training=False)
            if summed_loss is not None:
                loss = summed_loss(y, y_pred, sample_weight)
        # A layer not called is reported by the caller, where it is not mistaken for bad probe_data.
        stats = [reduce_calls(layer, calls) if calls else None for layer, calls in zip(layers, outputs)]
        if summed_loss is None:
            return stats, None
        flat = [z for calls in preactivations for z in calls]
        # A pre-activation the loss does not depend on has gradient 0.
        flat_gradients = iter(tape.gradient(loss, flat, unconnected_gradients=tf.UnconnectedGradients.ZERO))
        gradient_stats = [
            reduce_calls(layer, [next(flat_gradients) for _ in calls]) if calls else None
            for layer, calls in zip(layers, preactivations)
        ]
        return stats, gradient_stats

    def as_numpy(stats):
        return None if stats is None else [None if s is None else {k: np.asarray(v) for k, v in s.items()} for s in stats]

    def probe(x, y, sample_weight):
        stats, gradient_stats = traced(x, y, sample_weight)
        return as_numpy(stats), as_numpy(gradient_stats)

    return probe


def _torch_probe(model, layers, tap, summed_loss):
    import torch

    def probe(x, y, sample_weight):
        outputs = [[] for _ in layers]
        preactivations = [[] for _ in layers]

        def collect(index, output):
            outputs[index].append(output.detach())

        with contextlib.ExitStack() as stack:
            stack.enter_context(tap.active(collect))
            if summed_loss is None:
                stack.enter_context(torch.no_grad())
            else:
                stack.enter_context(torch.enable_grad())
                stack.enter_context(watching_preactivations(layers, lambda z: z.view_as(z), preactivations))
            y_pred = model(x, training=False)
            if summed_loss is not None:
                loss = summed_loss(y, y_pred, sample_weight)
        stats = _reduce_calls_np(layers, [[o.cpu().numpy() for o in calls] for calls in outputs])
        if summed_loss is None:
            return stats, None
        flat = [z for calls in preactivations for z in calls]
        gradients = torch.autograd.grad(loss, flat, allow_unused=True) if flat else ()
        flat_gradients = iter(
            # A pre-activation the loss does not depend on has gradient 0.
            np.zeros(tuple(z.shape), np.float32) if g is None else g.detach().cpu().numpy()
            for z, g in zip(flat, gradients)
        )
        gradient_stats = _reduce_calls_np(layers, [[next(flat_gradients) for _ in calls] for calls in preactivations])
        return stats, gradient_stats

    return probe


def _jax_probe(model, layers, tap, summed_loss):
    import jax

    def forward(x, outputs, watch=None, preactivations=None):
        with contextlib.ExitStack() as stack:
            stack.enter_context(tap.active(lambda index, output: outputs[index].append(output)))
            if watch is not None:
                stack.enter_context(watching_preactivations(layers, watch, preactivations))
            return model(x, training=False)

    def probe(x, y, sample_weight):
        outputs = [[] for _ in layers]
        preactivations = [[] for _ in layers]
        # The pre-activations' shapes, for the zeros the gradient is taken for.
        forward(x, outputs, (lambda z: z) if summed_loss is not None else None, preactivations)
        stats = _reduce_calls_np(layers, [[np.asarray(o) for o in calls] for calls in outputs])
        if summed_loss is None:
            return stats, None
        shapes = [(calls, [z.shape for z in calls]) for calls in preactivations]
        zeros = [jax.numpy.zeros(shape, z.dtype) for calls, layer_shapes in shapes for z, shape in zip(calls, layer_shapes)]

        def loss_of(offsets):
            offsets_left = iter(offsets)
            ignored = [[] for _ in layers]
            y_pred = forward(x, [[] for _ in layers], lambda z: z + next(offsets_left), ignored)
            return summed_loss(y, y_pred, sample_weight)

        # d loss / d offset at offset 0 is d loss / d z through the activation alone.
        flat_gradients = iter(np.asarray(g) for g in jax.grad(loss_of)(zeros))
        gradient_stats = _reduce_calls_np(layers, [[next(flat_gradients) for _ in calls] for calls in preactivations])
        return stats, gradient_stats

    return probe
