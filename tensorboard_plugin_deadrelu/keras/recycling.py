"""Recycling dead units of a Keras 3 model: ReDo (Sokar et al. 2023), as google/dopamine ``labs/redo`` does it.

A watched layer M gets its units from a *producer* P, the ``Dense`` or
``Conv1D/2D/3D`` layer whose output it is (M itself when M is a Dense/Conv
with a ReLU-family ``activation``; for a ``ReLU``/``Activation`` layer, the
Dense/Conv before it): column u of a Dense kernel ``[in, units]``, filter u
of a Conv kernel ``[..., in, filters]``. It hands them to a *consumer* C, the
Dense/Conv that reads M's output: row u of a Dense kernel, input slice
``kernel[..., u, :]`` of a Conv kernel; after a ``Flatten`` of a
channels-last ``(N, H, W, C)`` output, channel u is the rows
``(h*W + w)*C + u`` of the next Dense kernel. Recycling unit u:

* P's incoming weights of u are drawn afresh from P's own
  ``kernel_initializer`` (or the ``initializer`` given to :class:`ReDo`),
  called for P's FULL kernel shape (so that fan-in and fan-out are P's) with
  a fresh seed at every recycling: a Keras initializer made without a seed
  returns the same values at every call, which would replay the weights P
  was built with. ``P.bias[u]`` is 0;
* C's weights that read u are 0, so the model's output is unchanged right
  after recycling (C's bias and other weights untouched; C is never
  re-drawn, so the output layer never is);
* a ``BatchNormalization`` between P and M gets channel u reset (gamma 1,
  beta 0, moving mean 0, moving variance 1);
* the optimizer's per-weight slots of exactly those entries are 0 (Adam's
  and AdamW's momentum and velocity, AMSGrad's velocity_hat, SGD's
  momentum, RMSprop's velocity, ...: every optimizer variable made from the
  weight with ``add_variable_from_reference``, found by its name, except an
  EMA ``average``). The optimizer's ``iterations`` is one counter for all
  weights (Adam's bias correction uses it): it is left alone.

P and C are found in a Sequential model's layer list or a Functional model's
graph, walking over Dropout-family layers, pooling and BatchNormalization
(reset between P and M, left alone between M and C) and, after M, one
Flatten; any other model needs ``ReDo(pairs={tag: (producer, consumer)})``.
"""

import dataclasses
import numbers

import keras
import numpy as np

from tensorboard_plugin_deadrelu.core import analysis


@dataclasses.dataclass(frozen=True)
class ReDo:
    """Recycle dead (or τ-dormant) units after a record: ``DeadReluMonitor(..., recycle=ReDo())``.

    Attributes:
      tau: 0 to recycle the units a record found dead (exactly zero on every
        input), a number > 0 for the τ-dormant ones (score
        ``mean|a_u| / layer mean <= tau``, the tab's definition; Sokar et al.
        use 0.025 for dense layers).
      every: Recycle after every ``every``-th record (1: after each).
      initializer: None to draw incoming weights with each producer's own
        ``kernel_initializer``; otherwise a Keras initializer (object, name
        or config) or a callable ``(shape, dtype) -> array``. Keras
        initializers are cloned with a fresh seed at every recycling.
      pairs: Optional ``{layer tag: (producer, consumer)}`` (layer names or
        layer objects) for layers whose neighbours cannot be found.
      seed: Optional int: the seeds of the fresh draws follow from it. None
        draws it from numpy's global generator (which
        ``keras.utils.set_random_seed`` seeds) at the first recycling.
    """

    tau: float = 0.0
    every: int = 1
    initializer: object = None
    pairs: dict = None
    seed: int = None

    def __post_init__(self):
        object.__setattr__(self, "tau", analysis.check_tau(self.tau))
        if isinstance(self.every, bool) or not isinstance(self.every, numbers.Integral) or self.every < 1:
            raise ValueError("ReDo(every=) must be a positive int, got %r" % (self.every,))
        if self.pairs is not None and not isinstance(self.pairs, dict):
            raise ValueError("ReDo(pairs=) must be None or a dict {layer tag: (producer, consumer)}, got %r"
                             % (self.pairs,))
        for tag, pair in (self.pairs or {}).items():
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise ValueError("ReDo(pairs=)[%r] must be (producer, consumer), got %r" % (tag, pair))
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral)):
            raise ValueError("ReDo(seed=) must be None or an int, got %r" % (self.seed,))


class GraphError(ValueError):
    """The layers around a watched layer could not be found; the message says how to declare them."""


def producer_classes():
    return (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def _walked_over():
    layers = keras.layers
    return (
        layers.Dropout, layers.SpatialDropout1D, layers.SpatialDropout2D, layers.SpatialDropout3D,
        layers.GaussianDropout, layers.AlphaDropout,
        layers.MaxPooling1D, layers.MaxPooling2D, layers.MaxPooling3D,
        layers.AveragePooling1D, layers.AveragePooling2D, layers.AveragePooling3D,
        layers.GlobalMaxPooling1D, layers.GlobalMaxPooling2D, layers.GlobalMaxPooling3D,
        layers.GlobalAveragePooling1D, layers.GlobalAveragePooling2D, layers.GlobalAveragePooling3D,
    )


@dataclasses.dataclass
class Neighbours:
    """The layers that recycling a watched layer's units touches."""

    tag: str
    producer: object
    consumer: object
    batch_norms: list  # between producer and the watched layer: their channels are reset
    flatten: object = None  # a Flatten between the watched layer and a Dense consumer, or None


def _how_to_declare(tag):
    return (
        "declare the layers: DeadReluMonitor(..., recycle=ReDo(pairs={%r: ('<producer>', '<consumer>')})) "
        "with the names of the Dense/Conv layer whose output %r receives and of the one that reads its output"
        % (tag, tag)
    )


def _graph_error(tag, layer, reason):
    return GraphError("recycle: cannot find the layers around layer %r (%s): %s; %s"
                      % (tag, type(layer).__name__, reason, _how_to_declare(tag)))


def _is_producer(layer):
    return isinstance(layer, producer_classes())


def _own_nodes(model):
    nodes = getattr(model, "_nodes_by_depth", None)
    if not nodes:
        return None
    return [node for depth in nodes.values() for node in depth]


def _chain_neighbours(model, layer):
    """``(layers before, layers after)`` of ``layer`` on its one path through ``model``, nearest first,
    or a string saying why there is no such path."""
    if isinstance(model, keras.Sequential):
        chain = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
        at = [i for i, l in enumerate(chain) if l is layer]
        if len(at) != 1:
            return "it sits at %d places of the Sequential model" % len(at)
        return list(reversed(chain[:at[0]])), chain[at[0] + 1:]
    nodes = _own_nodes(model)
    if nodes is None:
        return "the model is neither Sequential nor Functional"
    mine = [n for n in nodes if n.operation is layer]
    if len(mine) != 1:
        return "it is called %d times in the model" % len(mine)
    children = {}
    for n in nodes:
        for parent in n.parent_nodes:
            children.setdefault(id(parent), []).append(n)

    def walk(node, step):
        found = []
        while True:
            following = step(node)
            if len(following) != 1:
                return found, len(following)
            node = following[0]
            if isinstance(node.operation, keras.layers.InputLayer):
                return found, 0
            found.append(node.operation)

    before, _ = walk(mine[0], lambda n: n.parent_nodes)
    after, _ = walk(mine[0], lambda n: children.get(id(n), []))
    return before, after


def find_neighbours(model, tag, layer):
    """The :class:`Neighbours` of the watched ``layer`` (tagged ``tag``) in ``model``.

    Raises:
      GraphError: naming ``tag`` and saying how to declare ``pairs``.
    """
    batch_norms = []
    if _is_producer(layer):
        producer = layer
        found = _chain_neighbours(model, layer)
        if isinstance(found, str):
            raise _graph_error(tag, layer, found)
        after = found[1]
    else:
        found = _chain_neighbours(model, layer)
        if isinstance(found, str):
            raise _graph_error(tag, layer, found)
        before, after = found
        producer = None
        for other in before:
            if _is_producer(other):
                producer = other
                break
            if isinstance(other, keras.layers.BatchNormalization):
                batch_norms.append(other)
            elif not isinstance(other, _walked_over()):
                raise _graph_error(tag, layer, "layer %r (%s) stands between it and a Dense/Conv layer before it"
                                   % (other.name, type(other).__name__))
        if producer is None:
            raise _graph_error(tag, layer, "no single Dense/Conv layer feeds it")
    consumer, flatten = None, None
    for other in after:
        if _is_producer(other):
            consumer = other
            break
        if isinstance(other, keras.layers.Flatten) and flatten is None:
            flatten = other
        elif not isinstance(other, _walked_over() + (keras.layers.BatchNormalization,)):
            raise _graph_error(tag, layer, "layer %r (%s) stands between it and a Dense/Conv layer after it"
                               % (other.name, type(other).__name__))
    if consumer is None:
        raise _graph_error(tag, layer, "no single Dense/Conv layer reads its output (the output layer is never recycled)")
    if flatten is not None and not isinstance(consumer, keras.layers.Dense):
        raise _graph_error(tag, layer, "a Flatten is followed by a %s, not a Dense layer" % type(consumer).__name__)
    return Neighbours(tag, producer, consumer, batch_norms, flatten)


def declared_neighbours(model, tag, pair):
    """The :class:`Neighbours` of ``tag`` from ``pairs[tag]`` = (producer, consumer), names or layers.

    Raises:
      ValueError: naming ``pairs``: not two Dense/Conv layers of ``model``.
    """
    found = []
    for role, named in zip(("producer", "consumer"), pair):
        if isinstance(named, str):
            try:
                named = model.get_layer(named)
            except ValueError:
                raise ValueError("ReDo(pairs=)[%r]: %s %r is not a layer of the model" % (tag, role, pair[len(found)])) from None
        if not _is_producer(named):
            raise ValueError("ReDo(pairs=)[%r]: %s %r is a %s; it must be a Dense or Conv1D/2D/3D layer"
                             % (tag, role, getattr(named, "name", named), type(named).__name__))
        found.append(named)
    return Neighbours(tag, found[0], found[1], [])


@dataclasses.dataclass
class Plan:
    """What recycling one layer's units changes: the index of the consumer kernel's input axis per unit."""

    neighbours: Neighbours
    units: int
    rows_per_unit: object  # int array [units, k]: the consumer kernel's input rows fed by each unit


def plan(neighbours, units):
    """A :class:`Plan` for a layer of ``units`` units, its widths checked.

    Raises:
      ValueError: naming the layer: widths that do not fit together.
    """
    tag, producer, consumer = neighbours.tag, neighbours.producer, neighbours.consumer
    produced = producer.kernel.shape[-1]
    if produced != units:
        raise ValueError("recycle: layer %r has %d units but its producer %r has %d outputs; %s"
                         % (tag, units, producer.name, produced, _how_to_declare(tag)))
    for bn in neighbours.batch_norms:
        if bn.moving_mean.shape[-1] != units or len(bn.moving_mean.shape) != 1:
            raise ValueError("recycle: layer %r: BatchNormalization %r normalises %s values, not its %d channels"
                             % (tag, bn.name, tuple(bn.moving_mean.shape), units))
    inputs = consumer.kernel.shape[-2]
    if not isinstance(consumer, keras.layers.Dense):
        if inputs != units or getattr(consumer, "groups", 1) != 1:
            raise ValueError("recycle: layer %r has %d units but its consumer %r reads %d channels in %d groups "
                             "(only groups=1 can be recycled)" % (tag, units, consumer.name, inputs,
                                                                   getattr(consumer, "groups", 1)))
        return Plan(neighbours, units, np.arange(units)[:, None])
    if inputs % units:
        raise ValueError("recycle: layer %r has %d units but its consumer %r has %d inputs (not a multiple)"
                         % (tag, units, consumer.name, inputs))
    positions = inputs // units
    unit = np.arange(units)[:, None]
    position = np.arange(positions)[None, :]
    producer_first = getattr(producer, "data_format", "channels_last") == "channels_first"
    flatten_first = neighbours.flatten is not None and neighbours.flatten.data_format == "channels_first"
    if positions > 1 and producer_first and not flatten_first:
        # Flatten of (N, C, H, W) as it is: channel c is rows c*H*W ... (c+1)*H*W - 1.
        return Plan(neighbours, units, unit * positions + position)
    if positions > 1 and not producer_first and flatten_first:
        raise ValueError("recycle: layer %r: a Flatten(data_format='channels_first') after a channels-last "
                         "output cannot be mapped to the next layer's rows; %s" % (tag, _how_to_declare(tag)))
    # Flatten of a channels-last (N, H, W, C) output: channel c is rows (h*W + w)*C + c.
    return Plan(neighbours, units, position * units + unit)


def _read(variable):
    return np.array(keras.ops.convert_to_numpy(variable.value))


def _write(variable, value):
    variable.assign(keras.ops.convert_to_tensor(value, dtype=variable.dtype))


def fresh_initializer(initializer, seed):
    """``initializer`` (a Keras initializer, name, config or callable) with ``seed`` in place of its own."""
    if isinstance(initializer, (str, dict)):
        initializer = keras.initializers.get(initializer)
    if isinstance(initializer, keras.initializers.Initializer):
        config = initializer.get_config()
        if "seed" in config:
            config["seed"] = int(seed)
            return type(initializer).from_config(config)
    return initializer


def optimizer_slots(optimizer, variable, model_variables):
    """The optimizer variables made for ``variable`` (same shape, named after its path), EMA averages left out.

    Keras names them ``<variable path with / as _>_<slot>`` (``add_variable_from_reference``);
    a longer path of another model variable with the same start is not taken for this one's.
    """
    if optimizer is None:
        return []
    prefix = variable.path.replace("/", "_") + "_"
    longer = [v.path.replace("/", "_") + "_" for v in model_variables]
    longer = [p for p in longer if p != prefix and p.startswith(prefix)]
    slots = []
    for slot in optimizer.variables:
        name = slot.name
        if not name.startswith(prefix) or any(name.startswith(p) for p in longer):
            continue
        if tuple(slot.shape) != tuple(variable.shape) or name.endswith("_average"):
            continue
        slots.append(slot)
    return slots


def touched_entries(plan_, chosen):
    """``[(variable, index)]``: the entries of each weight recycling ``chosen`` changes
    (index into the numpy value: last axis for the producer, BatchNorms; input axis for the consumer)."""
    n = plan_.neighbours
    chosen = np.asarray(chosen, dtype=np.int64)
    entries = [(n.producer.kernel, (Ellipsis, chosen))]
    if n.producer.use_bias:
        entries.append((n.producer.bias, (chosen,)))
    for bn in n.batch_norms:
        for weight in (bn.gamma, bn.beta):
            if weight is not None:
                entries.append((weight, (chosen,)))
    rows = plan_.rows_per_unit[chosen].reshape(-1)
    entries.append((n.consumer.kernel, (Ellipsis, rows, slice(None))))
    return entries


def recycle_units(plan_, chosen, seed, optimizer=None, initializer=None, model_variables=()):
    """Resets the ``chosen`` units of one watched layer; see the module docstring for what is reset."""
    if len(chosen) == 0:
        return
    n = plan_.neighbours
    chosen = np.asarray(chosen, dtype=np.int64)
    kernel = n.producer.kernel
    draw = fresh_initializer(initializer if initializer is not None else n.producer.kernel_initializer, seed)
    fresh = np.asarray(keras.ops.convert_to_numpy(draw(tuple(kernel.shape), dtype=kernel.dtype)))
    value = _read(kernel)
    value[..., chosen] = fresh[..., chosen]
    _write(kernel, value)
    if n.producer.use_bias:
        value = _read(n.producer.bias)
        value[chosen] = 0
        _write(n.producer.bias, value)
    for bn in n.batch_norms:
        for weight, reset in ((bn.gamma, 1), (bn.beta, 0), (bn.moving_mean, 0), (bn.moving_variance, 1)):
            if weight is not None:
                value = _read(weight)
                value[chosen] = reset
                _write(weight, value)
    touched = touched_entries(plan_, chosen)
    consumer_kernel, rows = touched[-1]
    value = _read(consumer_kernel)
    value[rows] = 0
    _write(consumer_kernel, value)
    for variable, index in touched:
        for slot in optimizer_slots(optimizer, variable, model_variables):
            value = _read(slot)
            value[index] = 0
            _write(slot, value)
