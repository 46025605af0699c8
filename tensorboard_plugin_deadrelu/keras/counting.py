"""Counting the monitored layers' outputs inside the backend's own train step.

A counter builds, from the train function ``fit()`` made, a counting train
function that runs the same step with the layers tapped, and adds each
batch's per-unit sums (see :mod:`tensorboard_plugin_deadrelu.core.metadata`) to
running totals that stay on the device until :meth:`result` reads them. One
class per Keras backend, because each compiles its step differently:

* TensorFlow: the step is a ``tf.function``; the sums are added to
  ``tf.Variable`` s (:class:`summary.Accumulator`) as side effects of the
  traced step, with the XLA-fused reduction of :mod:`summary`.
* JAX: the step is a pure, jitted function of the training state. The sums
  are carried as extra state: while the step is traced, one Keras variable
  per sum is lent to the model's non-trainable variables, so Keras's own
  ``stateless_call`` threads them out of the gradient computation, as it does
  a BatchNorm's moving mean. The counting function splits them off again, so
  ``fit()`` sees its usual state. Counts are kept exact beyond 2**32 in
  pairs of uint32 words (JAX has no int64 by default).
* PyTorch: the step runs eagerly; the sums are added to float64 tensors on
  the model's device (the native PyTorch monitor's ``LayerSums``), without a
  host sync per step on an accelerator.

Nothing stays on the model: the layers are tapped only while a step runs or
is traced, and a variable is lent to the JAX model only while it is traced.
"""

import itertools

import keras
import numpy as np

from tensorboard_plugin_deadrelu.keras.layers import channels_first, units_of
from tensorboard_plugin_deadrelu.keras.taps import patch_attribute

SUPPORTED_BACKENDS = ("tensorflow", "jax", "torch")



def check_backend():
    """The Keras backend's name; raises ValueError naming it when the monitor cannot serve it."""
    backend = keras.backend.backend()
    if backend not in SUPPORTED_BACKENDS:
        raise ValueError(
            "DeadReluMonitor does not support the Keras backend %r (it needs a train step it can "
            "count inside); use KERAS_BACKEND=tensorflow, jax or torch" % backend
        )
    return backend


def make_counter(model, layers, tags, tap):
    """A counter for ``model``'s ``layers`` on the current Keras backend."""
    backend = check_backend()
    counter_class = {"tensorflow": TensorFlowCounter, "jax": JaxCounter, "torch": TorchCounter}[backend]
    return counter_class(model, layers, tags, tap)


def batch_sums(output, channels_first):
    """One batch's per-unit sums with ``keras.ops``: ``(rows, zeros, abs_sum, nonfinite)``.

    The reduction rule of :mod:`tensorboard_plugin_deadrelu.core.sums` for the
    JAX backend's counter. ``rows`` is the number of values per unit;
    ``zeros`` and ``nonfinite`` are int32 (a batch has fewer than 2**31 values
    per unit); ``abs_sum`` is summed over the finite values in float32 for
    float32 and narrower inputs, in float64 for integer and float64 inputs
    where the backend has float64 (not JAX without ``jax_enable_x64``: there
    in float32). Gradients do not flow through it.
    """
    ops = keras.ops
    x = ops.stop_gradient(output)
    if channels_first:
        x = ops.moveaxis(x, 1, -1)
    units = x.shape[-1]
    flat = ops.reshape(x, (-1, units))
    rows = ops.shape(flat)[0]
    dtype = keras.backend.standardize_dtype(flat.dtype)
    work = "float64" if dtype not in ("float16", "bfloat16", "float32") and has_float64() else "float32"
    if not keras.backend.is_float_dtype(dtype):
        # Casting keeps 0 as 0 and every other integer non-zero.
        flat = ops.cast(flat, work)
    zeros = ops.sum(ops.cast(ops.equal(flat, 0), "int32"), axis=0)
    finite = ops.isfinite(flat)
    magnitudes = ops.abs(ops.cast(flat, work))
    abs_sum = ops.sum(ops.where(finite, magnitudes, ops.zeros_like(magnitudes)), axis=0)
    nonfinite = ops.sum(ops.cast(ops.logical_not(finite), "int32"), axis=0)
    return rows, zeros, abs_sum, nonfinite


def has_float64():
    """Whether the Keras backend computes in float64 (JAX only with ``jax_enable_x64``)."""
    if keras.backend.backend() != "jax":
        return True
    import jax

    return bool(jax.config.read("jax_enable_x64"))


class TensorFlowCounter:
    """Counting inside a ``tf.function`` train step, into a :class:`summary.Accumulator`."""

    def __init__(self, model, layers, tags, tap):
        from tensorboard_plugin_deadrelu.writing import summary

        self.model = model
        self.tags = tags
        self.tap = tap
        self.channels_first = [channels_first(layer) for layer in layers]
        units = {tag: units_of(layer) for tag, layer in zip(tags, layers)}
        unknown = [tag for tag, n in units.items() if n is None]
        if unknown and model.distribute_strategy.num_replicas_in_sync > 1:
            raise ValueError(
                "layers: cannot tell the number of units of %s before training, which a "
                "distribution strategy needs; build the model as a Functional model or "
                "monitor only layers with units/filters" % ", ".join(map(repr, unknown))
            )
        with model.distribute_strategy.scope():
            # Layers of unknown size get their sums on the first trace.
            self.accumulator = summary.Accumulator(units={tag: n for tag, n in units.items() if n is not None})
        silence_xla_startup_logs()

    def counting_function(self, fit_train_function):
        model = self.model
        accumulator = self.accumulator
        tags, channels_first, tap = self.tags, self.channels_first, self.tap

        def count(index, outputs):
            accumulator.update(tags[index], outputs, channels_first=channels_first[index])

        original_train_step = model.train_step

        def train_step(data):
            with tap.active(count):
                return original_train_step(data)

        # make_train_function reads model.train_step once, when it builds the
        # function, and leaves its result in model.train_function.
        undo = patch_attribute(model, "train_step", train_step)
        try:
            model.make_train_function(force=True)
            return model.train_function
        finally:
            undo()
            model.train_function = fit_train_function

    def result(self):
        """Per layer (None when not called yet), the sums since the last reset, as numpy."""
        result = self.accumulator.result()
        return [result.get(tag) for tag in self.tags]

    def reset(self):
        self.accumulator.reset()


class TorchCounter:
    """Counting in PyTorch's eager train step, with the native PyTorch monitor's per-layer sums.

    The sums (:class:`tensorboard_plugin_deadrelu.torch.sums.LayerSums`) stay
    on the device of the outputs and are read in one transfer per record.
    """

    def __init__(self, model, layers, tags, tap):
        from tensorboard_plugin_deadrelu.torch.sums import LayerSums

        self.tap = tap
        self.sums = [LayerSums(tag, 1 if channels_first(layer) else -1) for tag, layer in zip(tags, layers)]

    def _count(self, index, output):
        import torch

        with torch.no_grad():
            self.sums[index].add(output)

    def counting_function(self, fit_train_function):
        import torch

        # With jit_compile=True Keras torch.compile()s the step: the sums are
        # added eagerly between its graphs rather than traced into them.
        tap, count = self.tap, torch.compiler.disable(self._count)

        def counting_train_function(data):
            with tap.active(count):
                return fit_train_function(data)

        return counting_train_function

    def result(self):
        from tensorboard_plugin_deadrelu.torch.sums import read_all

        stats = read_all(self.sums)
        return [stats[layer_sums.tag] for layer_sums in self.sums]

    def reset(self):
        for layer_sums in self.sums:
            layer_sums.reset()


class JaxCounter:
    """Counting inside JAX's jitted, stateless train step, the sums carried as extra state."""

    def __init__(self, model, layers, tags, tap):
        self.model = model
        self.layers = layers
        self.tap = tap
        self.channels_first = [channels_first(layer) for layer in layers]
        self.slots = None  # per layer: Keras variables (count, zeros, nonfinite as uint32 [2, ...]; abs_sum float32 [2, units])
        self.values = None  # their current values, carried between steps

    def _make_slots(self, units):
        def slot(name, shape, dtype):
            return keras.Variable(np.zeros(shape, dtype), dtype=dtype, trainable=False, name="deadrelu_" + name)

        self.slots = [
            [
                slot("count", (2,), "uint32"),
                slot("zeros", (2, n), "uint32"),
                slot("abs_sum", (2, n), "float32"),  # sum and Kahan compensation
                slot("nonfinite", (2, n), "uint32"),
            ]
            for n in units
        ]
        self.reset()

    def _units_from_a_trace(self, state, data):
        """The monitored layers' unit counts, from an abstract trace of the model on ``data``."""
        import jax

        from keras.src.trainers.data_adapters import data_adapter_utils

        model = self.model
        units = [None] * len(self.layers)

        def note(index, output):
            units[index] = output.shape[1 if self.channels_first[index] else -1]

        x, _, _ = data_adapter_utils.unpack_x_y_sample_weight(data)
        kwargs = {"training": True} if model._call_has_training_arg else {}
        with self.tap.active(note):
            jax.eval_shape(lambda t, n, x: model.stateless_call(t, n, x, **kwargs)[0], state[0], state[1], x)
        return units

    def _count(self, index, output):
        rows, zeros, abs_sum, nonfinite = batch_sums(output, self.channels_first[index])
        count_slot, zeros_slot, abs_slot, nonfinite_slot = self.slots[index]
        count_slot.assign(add_to_pair(count_slot.value, keras.ops.cast(rows, "uint32")))
        zeros_slot.assign(add_to_pair(zeros_slot.value, zeros))
        abs_slot.assign(kahan_add(abs_slot.value, abs_sum))
        nonfinite_slot.assign(add_to_pair(nonfinite_slot.value, nonfinite))

    def counting_function(self, fit_train_function):
        import jax

        model = self.model
        original_train_step = model.train_step

        def step(state, data):
            trainable, non_trainable, optimizer_variables, metrics_variables, carried = state
            lent = [v for slots in self.slots for v in slots]
            # The slots join the model's non-trainable variables only while
            # the step is traced: stateless_call then maps them to the
            # carried values and returns what the taps assigned to them.
            model._non_trainable_variables.extend(lent)
            try:
                positions = _positions(model.non_trainable_variables, lent)
                merged = _insert(non_trainable, positions, carried)
                with self.tap.active(self._count):
                    logs, new_state = original_train_step(
                        (trainable, merged, optimizer_variables, metrics_variables), data
                    )
            finally:
                del model._non_trainable_variables[-len(lent):]
            trainable, merged, optimizer_variables, metrics_variables = new_state
            non_trainable, carried = _split(merged, positions)
            return logs, (trainable, non_trainable, optimizer_variables, metrics_variables, carried)

        if not model.run_eagerly and model.jit_compile:
            step = jax.jit(step, donate_argnums=0)
        iterator_step = model._make_function(step)

        def counting_train_function(state, iterator):
            if self.slots is None:
                first = next(iterator)
                self._make_slots(self._units_from_a_trace(state, first))
                iterator = itertools.chain([first], iterator)
            logs, state = iterator_step(tuple(state) + (self.values,), iterator)
            self.values = state[4]
            return logs, state[:4]

        return counting_train_function

    def result(self):
        if self.slots is None:
            return [None] * len(self.layers)
        results = []
        for count, zeros, abs_sum, nonfinite in _chunks(self.values, 4):
            results.append(
                {
                    "count": int(pair_to_int(np.asarray(count))),
                    "zeros": pair_to_int(np.asarray(zeros)),
                    "abs_sum": np.asarray(abs_sum, np.float64)[0] - np.asarray(abs_sum, np.float64)[1],
                    "nonfinite": pair_to_int(np.asarray(nonfinite)),
                }
            )
        return results

    def reset(self):
        if self.slots is not None:
            import jax.numpy as jnp

            self.values = [jnp.zeros(v.shape, v.dtype) for slots in self.slots for v in slots]


def _positions(variables, lent):
    """Indexes of the ``lent`` variables in ``variables`` (by identity)."""
    index = {id(v): i for i, v in enumerate(variables)}
    return [index[id(v)] for v in lent]


def _insert(values, positions, inserted):
    """``values`` with ``inserted[k]`` placed at index ``positions[k]`` of the result."""
    merged = [None] * (len(values) + len(inserted))
    for position, value in zip(positions, inserted):
        merged[position] = value
    rest = iter(values)
    return [next(rest) if value is None else value for value in merged]


def _split(merged, positions):
    """The inverse of :func:`_insert`: ``(values, inserted)``."""
    taken = set(positions)
    return [v for i, v in enumerate(merged) if i not in taken], [merged[p] for p in positions]


def _chunks(values, size):
    return [values[i:i + size] for i in range(0, len(values), size)]


def add_to_pair(pair, addend):
    """Adds a non-negative ``addend`` (< 2**32) to a uint32 ``[low word, high word]`` pair.

    How the JAX counter keeps counts exact past 2**32 without int64 (JAX has
    none unless ``jax_enable_x64``): exact up to 2**64. ``pair`` has shape
    ``[2, ...]``, ``addend`` the shape of ``pair[0]``.
    """
    ops = keras.ops
    low = pair[0] + ops.cast(addend, "uint32")  # wraps around modulo 2**32
    high = pair[1] + ops.cast(ops.less(low, pair[0]), "uint32")
    return ops.stack([low, high])


def pair_to_int(pair):
    """The exact count(s) held by a numpy uint32 ``[low word, high word]`` pair, as int64."""
    pair = np.asarray(pair)
    return pair[0].astype(np.int64) + (pair[1].astype(np.int64) << 32)


def kahan_add(pair, addend):
    """Adds ``addend`` to a float32 ``[sum, compensation]`` pair (Kahan summation).

    How the JAX counter adds ``abs_sum`` over batches with float64-like
    accuracy in float32; the total is ``pair[0] - pair[1]``.
    """
    ops = keras.ops
    total, compensation = pair[0], pair[1]
    corrected = ops.cast(addend, total.dtype) - compensation
    new_total = total + corrected
    compensation = (new_total - total) - corrected
    return ops.stack([new_total, compensation])


def silence_xla_startup_logs():
    """Compiles a tiny XLA function once, with the C++ log lines of XLA's start-up hidden.

    The counting reduction is XLA-compiled inside the train step (its
    fastest form on CPU). The first XLA compilation in a process logs INFO
    lines about the XLA service to stderr, which a CPU ``fit()`` without the
    monitor does not print; XLA logs them once per process, so compiling
    something tiny here, with file descriptor 2 pointed at /dev/null for
    that call only (Python's own ``sys.stderr`` is kept), uses them up.
    """
    global _xla_started
    if _xla_started:
        return
    _xla_started = True
    import os
    import sys

    import tensorflow as tf

    from tensorboard_plugin_deadrelu.writing import summary

    # As in the train step: the XLA-compiled reduction called from a graph.
    @tf.function(autograph=False)
    def tiny(x):
        return summary.reduce_activations(x)

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        return
    python_stderr = sys.stderr
    try:
        sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1)
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                tiny(tf.zeros([2, 2]))
            finally:
                os.dup2(saved, 2)
    finally:
        replaced, sys.stderr = sys.stderr, python_stderr
        if replaced is not python_stderr:
            replaced.close()
        os.close(saved)


_xla_started = False
