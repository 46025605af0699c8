"""JAX integration: per-unit sums counted inside your ``jax.jit`` train step, written without TensorFlow.

``import tensorboard_plugin_deadrelu.jax as deadrelu``, then::

    sums = deadrelu.zeros({"dense_1": 1024, "dense_2": 1024})   # model order

    @jax.jit
    def train_step(params, opt_state, sums, x, y):
        (loss, acts), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, y)
        ...
        return params, opt_state, deadrelu.add(sums, acts), loss   # acts: {"dense_1": h1, ...}

    writer = deadrelu.Writer("logs/run1")          # or Writer(writer=summary_writer)
    for epoch in range(epochs):
        for x, y in batches:
            params, opt_state, sums, loss = train_step(params, opt_state, sums, x, y)
        shares = writer.write(sums, step=epoch + 1)  # one device-to-host copy
        sums = deadrelu.zeros_like(sums)
    writer.close()

The sums have fixed shapes (no recompilation across steps), are exact past
2**32 without ``jax_enable_x64`` (uint32 word pairs) and accurate over many
batches (Kahan-compensated float32 ``abs_sum``); see :mod:`.sums`. They work
under ``lax.scan`` and with the batch sharded over devices (the reductions are
global). Only JAX process 0 writes files.

Getting the activations from Flax without changing what the model returns:

Linen, with ``sow`` (the ``intermediates`` collection is made fresh by each
``apply``, so its shape is fixed)::

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            h1 = nn.relu(nn.Dense(1024)(x))
            self.sow("intermediates", "dense_1", h1)
            h2 = nn.relu(nn.Dense(1024)(h1))
            self.sow("intermediates", "dense_2", h2)
            return nn.Dense(10)(h2)

    def loss_fn(params, x, y):
        logits, state = model.apply({"params": params}, x, mutable=["intermediates"])
        acts = deadrelu.from_intermediates(state["intermediates"])   # {"dense_1": h1, "dense_2": h2}
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), acts

(``capture_intermediates=True`` records every submodule's output instead:
a ``Dense``'s is its pre-activation, not the ReLU's output, so ``sow`` the
ReLU outputs.)

NNX, with ``sow`` and ``nnx.capture`` (Flax >= 0.12; before it, ``nnx.pop``)::

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.linear_1 = nnx.Linear(784, 1024, rngs=rngs)   # not named like a sown value
            self.out = nnx.Linear(1024, 10, rngs=rngs)
        def __call__(self, x):
            h1 = nnx.relu(self.linear_1(x))
            self.sow(nnx.Intermediate, "dense_1", h1)
            return self.out(h1)

    @nnx.jit
    def train_step(model, optimizer, sums, x, y):
        def loss_fn(model):
            logits, intermediates = nnx.capture(model, nnx.Intermediate)(x)
            # older Flax: logits = model(x); intermediates = nnx.pop(model, nnx.Intermediate)
            acts = deadrelu.from_intermediates(intermediates)    # {"dense_1": h1}
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), acts
        (loss, acts), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
        optimizer.update(model, grads)
        return deadrelu.add(sums, acts), loss

Modules, one concern each: ``sums`` (the pytree of sums and the in-jit
reduction, the word-pair and Kahan helpers), ``writer`` (:class:`Writer`),
``intermediates`` (Flax's captured intermediates as ``{name: array}``).
Inside this subpackage ``import jax`` is the JAX library (imports are absolute).
"""

from tensorboard_plugin_deadrelu.jax.intermediates import from_intermediates
from tensorboard_plugin_deadrelu.jax.sums import Sums, add, batch_sums, to_numpy, zeros, zeros_like
from tensorboard_plugin_deadrelu.jax.writer import Writer

__all__ = ["Sums", "Writer", "add", "batch_sums", "from_intermediates", "to_numpy", "zeros", "zeros_like"]
