"""Recycling dead units of a PyTorch model: ReDo (Sokar et al. 2023), as google/dopamine ``labs/redo`` does it.

A watched module M (a ReLU) gets its units from a *producer* P, the
``nn.Linear`` or ``nn.Conv1d/2d/3d`` whose output M receives (row u of
``P.weight``, filter u of a conv), and hands them to a *consumer* C, the
Linear/Conv that reads M's output (column u of ``C.weight``; after a
``nn.Flatten`` of a channels-first ``(N, C, H, W)`` output, channel u is the
columns ``u*H*W ... (u+1)*H*W - 1`` of the next Linear). Recycling unit u:

* P's incoming weights of u are drawn afresh, as P's ``reset_parameters``
  draws them (``kaiming_uniform_(a=sqrt(5))`` for Linear and Conv, applied to
  a fresh tensor of P's full weight shape, of which row u is copied), or by a
  user ``initializer(tensor)``; ``P.bias[u]`` is 0;
* C's outgoing weights of u are 0, so the model's output is unchanged right
  after recycling (C's bias untouched; C is never re-drawn, so the output
  layer never is);
* a BatchNorm between P and M gets channel u's statistics and affine
  parameters reset (running mean 0, variance 1, weight 1, bias 0);
* the optimizer's per-parameter state tensors of exactly those entries are 0
  (Adam/AdamW ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``; SGD
  ``momentum_buffer``; any state tensor shaped like its parameter). Adam's
  ``step`` is one per tensor and shared by all its units: it is left alone,
  since resetting it would change the bias correction of every other unit.

P and C are found in ``nn.Sequential`` chains (nested ones too), skipping
Dropout, Identity and per-channel pooling on either side and BatchNorm
(reset between P and M, left alone between M and C); any other graph needs
``pairs={tag: (producer name, consumer name)}``.
"""

import dataclasses
import math

import torch
from torch import nn

from tensorboard_plugin_deadrelu.torch.modules import describe

PRODUCERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
# Modules that keep a unit (feature or channel) where it is: walked over.
CHANNEL_PRESERVING = (
    nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
)


class GraphError(ValueError):
    """The layers around a watched module could not be found; the message says how to declare them."""


@dataclasses.dataclass
class Neighbours:
    """The layers that recycling a watched module's units touches."""

    tag: str
    producer: nn.Module
    consumer: nn.Module
    batch_norms: list  # between producer and the module: their channels are reset
    flatten: object = None  # an nn.Flatten between the module and a Linear consumer, or None


def _how_to_declare(tag):
    return (
        "declare the layers: recycle(optimizer, pairs={%r: ('<producer>', '<consumer>')}) or "
        "DeadReluMonitor(..., pairs=...), with the qualified names (as in model.named_modules()) of the "
        "nn.Linear/nn.Conv layer whose output %r receives and of the one that reads its output" % (tag, tag)
    )


def _graph_error(tag, module, reason):
    return GraphError(
        "recycle: cannot find the layers around module %r (%s): %s; %s"
        % (tag, describe(module), reason, _how_to_declare(tag))
    )


def _parent_name(name):
    return name.rsplit(".", 1)[0] if "." in name else ""


def sequential_chain(model, tag):
    """The leaves ``[(name, module)]`` of the outermost ``nn.Sequential`` chain holding ``tag``
    (nested Sequentials expanded), or None when ``tag``'s parent is no Sequential."""
    by_name = dict(model.named_modules())
    top = None
    current = _parent_name(tag) if tag in by_name and tag else None
    while current is not None and isinstance(by_name.get(current), nn.Sequential):
        top = current
        current = _parent_name(current) if current else None
    if top is None:
        return None

    def leaves(prefix, sequential):
        for child_name, child in sequential.named_children():
            name = prefix + child_name
            if isinstance(child, nn.Sequential):
                yield from leaves(name + ".", child)
            else:
                yield name, child

    return list(leaves(top + "." if top else "", by_name[top]))


def find_neighbours(model, tag, module):
    """The :class:`Neighbours` of the watched ``module`` (tagged ``tag``) in its Sequential chain.

    Raises:
      GraphError: naming ``tag`` and saying how to declare ``pairs``.
    """
    chain = sequential_chain(model, tag)
    if chain is None:
        raise _graph_error(tag, module, "it is not inside an nn.Sequential")
    positions = [i for i, (_, m) in enumerate(chain) if m is module]
    if len(positions) != 1:
        raise _graph_error(tag, module, "the same module object sits at %d places of its nn.Sequential" % len(positions))
    at = positions[0]
    producer, batch_norms = None, []
    for name, m in reversed(chain[:at]):
        if isinstance(m, PRODUCERS):
            producer = m
            break
        if isinstance(m, BATCH_NORMS):
            batch_norms.append(m)
        elif not isinstance(m, CHANNEL_PRESERVING):
            raise _graph_error(tag, module, "module %r (%s) stands between it and a Linear/Conv layer before it"
                               % (name, type(m).__name__))
    if producer is None:
        raise _graph_error(tag, module, "no nn.Linear/nn.Conv layer comes before it in its nn.Sequential")
    consumer, flatten = None, None
    for name, m in chain[at + 1:]:
        if isinstance(m, PRODUCERS):
            consumer = m
            break
        if isinstance(m, nn.Flatten) and flatten is None:
            flatten = m
        elif not isinstance(m, CHANNEL_PRESERVING + BATCH_NORMS):
            raise _graph_error(tag, module, "module %r (%s) stands between it and a Linear/Conv layer after it"
                               % (name, type(m).__name__))
    if consumer is None:
        raise _graph_error(tag, module, "no nn.Linear/nn.Conv layer reads its output in its nn.Sequential")
    if flatten is not None and not isinstance(consumer, nn.Linear):
        raise _graph_error(tag, module, "an nn.Flatten is followed by a %s, not an nn.Linear" % type(consumer).__name__)
    return Neighbours(tag, producer, consumer, batch_norms, flatten)


def declared_neighbours(model, tag, pair):
    """The :class:`Neighbours` of ``tag`` from ``pairs[tag]`` = (producer name, consumer name).

    Raises:
      ValueError: naming ``pairs``: not a pair of names of Linear/Conv layers of ``model``.
    """
    by_name = dict(model.named_modules())
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(n, str) for n in pair)):
        raise ValueError("pairs[%r] must be (producer name, consumer name), got %r" % (tag, pair))
    found = []
    for role, name in zip(("producer", "consumer"), pair):
        m = by_name.get(name)
        if m is None:
            raise ValueError("pairs[%r]: %s %r is not a module of the model" % (tag, role, name))
        if not isinstance(m, PRODUCERS):
            raise ValueError("pairs[%r]: %s %r is a %s; it must be an nn.Linear or nn.Conv1d/2d/3d"
                             % (tag, role, name, type(m).__name__))
        found.append(m)
    return Neighbours(tag, found[0], found[1], [])


def flattens_after(model, tagged_modules):
    """The nn.Flatten modules found between a watched module and its consumer (to record their input shapes)."""
    found = []
    for tag, module in tagged_modules:
        try:
            neighbours = find_neighbours(model, tag, module)
        except GraphError:
            continue
        if neighbours.flatten is not None and all(neighbours.flatten is not f for f in found):
            found.append(neighbours.flatten)
    return found


def _out_units(layer):
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


def columns_per_unit(neighbours, units, flatten_shapes):
    """How many input columns of the consumer each unit feeds: 1, or H*W after a flatten.

    Checks the layers' widths against the record's ``units``.

    Raises:
      ValueError: naming the module: widths that do not fit together.
    """
    tag, producer, consumer = neighbours.tag, neighbours.producer, neighbours.consumer
    if _out_units(producer) != units:
        raise ValueError("recycle: module %r has %d units but its producer %s has %d outputs; %s"
                         % (tag, units, describe(producer), _out_units(producer), _how_to_declare(tag)))
    if not isinstance(consumer, nn.Linear):
        if consumer.in_channels != units or consumer.groups != 1:
            raise ValueError("recycle: module %r has %d units but its consumer %s reads %d channels in %d groups "
                             "(only groups=1 can be recycled)" % (tag, units, describe(consumer),
                                                                   consumer.in_channels, consumer.groups))
        return 1
    flatten = neighbours.flatten
    if flatten is not None:
        shape = flatten_shapes.get(id(flatten))
        if flatten.start_dim != 1 or flatten.end_dim != -1:
            raise ValueError("recycle: module %r: only nn.Flatten(1, -1) of a channels-first output can be "
                             "mapped to the next layer's columns, got %r" % (tag, flatten))
        if shape is not None:
            if len(shape) < 2 or shape[1] != units:
                raise ValueError("recycle: module %r has %d units but the nn.Flatten after it saw inputs of "
                                 "shape %s (channels on axis 1)" % (tag, units, tuple(shape)))
            per_unit = math.prod(shape[2:])
            if per_unit * units != consumer.in_features:
                raise ValueError("recycle: module %r: %d channels x %d positions do not match the %d inputs of %s"
                                 % (tag, units, per_unit, consumer.in_features, describe(consumer)))
            return per_unit
    # A declared pair or a flatten not seen yet: a channels-first flatten feeds in_features / units columns per unit.
    if consumer.in_features % units:
        raise ValueError("recycle: module %r has %d units but its consumer %s has %d inputs (not a multiple)"
                         % (tag, units, describe(consumer), consumer.in_features))
    return consumer.in_features // units


def _broadcast(tensor):
    # Every rank of a DDP job recycles the same units; they must draw the same weights.
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.broadcast(tensor, src=0)


def entries(neighbours, units, per_unit):
    """``[(parameter, index)]``: the entries of each parameter that recycling ``units`` touches
    (``index`` selects them: rows for the producer and BatchNorms, columns for the consumer)."""
    device = neighbours.producer.weight.device
    rows = torch.as_tensor(units, dtype=torch.long, device=device)
    touched = [(neighbours.producer.weight, (rows,))]
    if neighbours.producer.bias is not None:
        touched.append((neighbours.producer.bias, (rows,)))
    for bn in neighbours.batch_norms:
        if bn.affine:
            touched += [(bn.weight, (rows.to(bn.weight.device),)), (bn.bias, (rows.to(bn.bias.device),))]
    columns = rows.to(neighbours.consumer.weight.device)
    if per_unit > 1:
        columns = (columns[:, None] * per_unit + torch.arange(per_unit, device=columns.device)).reshape(-1)
    touched.append((neighbours.consumer.weight, (slice(None), columns)))
    return touched


@torch.no_grad()
def recycle_units(neighbours, units, per_unit, optimizer=None, initializer=None):
    """Resets ``units`` (indices) of one watched module; see the module docstring for what is reset."""
    if len(units) == 0:
        return
    producer = neighbours.producer
    rows = torch.as_tensor(units, dtype=torch.long, device=producer.weight.device)
    fresh = torch.empty_like(producer.weight)
    if initializer is None:
        # What nn.Linear / nn.Conv*d.reset_parameters draw for the weight.
        nn.init.kaiming_uniform_(fresh, a=math.sqrt(5))
    else:
        initializer(fresh)
    _broadcast(fresh)
    producer.weight[rows] = fresh[rows]
    if producer.bias is not None:
        producer.bias[rows] = 0
    for bn in neighbours.batch_norms:
        channels = rows.to(bn.running_mean.device if bn.running_mean is not None else rows.device)
        if bn.running_mean is not None:
            bn.running_mean[channels] = 0
            bn.running_var[channels] = 1
        if bn.affine:
            bn.weight[channels] = 1
            bn.bias[channels] = 0
    touched = entries(neighbours, units, per_unit)
    consumer_weight, columns = touched[-1]
    consumer_weight[columns] = 0
    if optimizer is not None:
        zero_optimizer_state(optimizer, touched)


def zero_optimizer_state(optimizer, touched):
    """Sets the optimizer's state of the ``touched`` ``[(parameter, index)]`` entries to 0.

    Every state tensor shaped like its parameter is cleared at ``index``
    (Adam's ``exp_avg``/``exp_avg_sq``/``max_exp_avg_sq``, SGD's
    ``momentum_buffer``, RMSprop's ``square_avg``, ...); scalars such as
    Adam's per-tensor ``step`` are left alone.
    """
    for parameter, index in touched:
        state = optimizer.state.get(parameter)
        if not state:
            continue
        for value in state.values():
            if isinstance(value, torch.Tensor) and value.shape == parameter.shape:
                value[index] = 0
