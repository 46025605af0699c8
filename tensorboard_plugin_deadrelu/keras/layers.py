"""Which layers of a Keras model the Dead ReLU monitor watches.

The ReLU family (activations with exact zeros on a half-line), finding those
layers in model order, validating and resolving ``layers=``, the tags records
are written under, and per-layer facts the monitor needs: a description, the
axis of its units (channels first or last) and the number of units.
"""

import keras


# Activations whose output is exactly zero, with zero gradient, on a whole
# half-line of inputs: a unit that stays there never learns again. Leaky ReLU,
# ELU, SELU, GELU, tanh never output exact zeros and are not monitored by
# default (name them in ``layers=`` to record them anyway).
RELU_FAMILY = ("relu", "relu6", "hard_silu", "hard_sigmoid", "sparse_plus", "sparse_sigmoid")


def _layers_in_model_order(model):
    """Every layer inside ``model`` (nested models flattened), in model order.

    For Sequential and Functional models this is the order of the graph; for a
    subclassed model it is the order in which ``__init__`` assigned the layers.
    """
    found = []
    seen = set()

    def visit(layer):
        for child in getattr(layer, "layers", None) or ():
            if id(child) in seen:
                continue
            seen.add(id(child))
            found.append(child)
            visit(child)

    visit(model)
    return found


def is_relu_family(layer):
    """Whether ``layer``'s output is a ReLU-family activation (see :data:`RELU_FAMILY`).

    True for ``keras.layers.ReLU`` without a negative slope, for
    ``Activation("relu")`` and kin, and for layers such as ``Dense`` or
    ``Conv2D`` built with ``activation="relu"`` and kin. Recurrent layers are
    excluded: their output is not the activation itself.
    """
    if isinstance(layer, keras.layers.ReLU):
        return not layer.negative_slope
    if isinstance(layer, keras.layers.RNN):
        return False
    activation = getattr(layer, "activation", None)
    return callable(activation) and getattr(activation, "__name__", None) in RELU_FAMILY


def find_relu_layers(model):
    """The ReLU-family layers of ``model``, in model order."""
    return [layer for layer in _layers_in_model_order(model) if is_relu_family(layer)]


def check_layers_argument(layers):
    """Validates ``layers=`` before a model is known; returns a tuple or None."""
    if layers is None:
        return None
    if isinstance(layers, (str, keras.layers.Layer)):
        layers = (layers,)
    try:
        layers = tuple(layers)
    except TypeError:
        raise ValueError(
            "layers must be None or a list of layer names or layer objects, got %r" % (layers,)
        ) from None
    if not layers:
        raise ValueError("layers must name at least one layer (or be None to find ReLU layers)")
    for item in layers:
        if not isinstance(item, (str, keras.layers.Layer)):
            raise ValueError(
                "layers must hold layer names (str) or keras layers, got %r of type %s"
                % (item, type(item).__name__)
            )
    return layers


def resolve_layers(model, requested):
    """The layers to monitor, in model order.

    Raises:
      ValueError: naming ``layers`` if a requested name or layer is not in the
        model, or if the model has no ReLU-family layer to find.
    """
    in_model = _layers_in_model_order(model)
    if requested is None:
        chosen = [layer for layer in in_model if is_relu_family(layer)]
        if not chosen:
            raise ValueError(
                "layers=None found no ReLU-family layer (activation one of %s) in model %r; "
                "pass layers=[...] with the names of the layers to monitor (activations applied "
                "with keras.ops or tf.nn inside call() are not layers and cannot be seen: use "
                "keras.layers.ReLU or activation=\"relu\" instead). Layers: %s"
                % (", ".join(RELU_FAMILY), model.name, ", ".join(l.name for l in in_model) or "none")
            )
        return chosen
    by_name = {}
    for layer in in_model:
        by_name.setdefault(layer.name, layer)
    chosen_ids = set()
    for item in requested:
        if isinstance(item, str):
            if item not in by_name:
                raise ValueError(
                    "layers names %r, which is not a layer of model %r; available layers: %s"
                    % (item, model.name, ", ".join(by_name) or "none")
                )
            chosen_ids.add(id(by_name[item]))
        else:
            if not any(layer is item for layer in in_model):
                raise ValueError(
                    "layers holds layer %r, which is not part of model %r; available layers: %s"
                    % (item.name, model.name, ", ".join(by_name) or "none")
                )
            chosen_ids.add(id(item))
    return [layer for layer in in_model if id(layer) in chosen_ids]


def tags_for(layers):
    """Record tags: the layer names, or the layer paths where names repeat."""
    names = [layer.name for layer in layers]
    return [
        layer.path if names.count(layer.name) > 1 else layer.name for layer in layers
    ]


def describe(layer):
    """``layer``'s class and activation, e.g. ``Dense (relu)``, for record descriptions."""
    activation = getattr(getattr(layer, "activation", None), "__name__", None)
    kind = type(layer).__name__
    return "%s (%s)" % (kind, activation) if activation else kind


def not_called(layer, model):
    """The error for a monitored layer that the model's forward pass never calls."""
    return ValueError(
        "layers: %r is not called by the forward pass of model %r, so there is nothing to count"
        % (layer.name, model.name)
    )


def channels_first(layer):
    """Whether ``layer``'s units (channels) are on axis 1, as for ``data_format="channels_first"`` convs."""
    return getattr(layer, "data_format", None) == "channels_first"


def units_of(layer):
    """The size of ``layer``'s units axis (last axis of its output), or None if unknown.

    Layers of Sequential and Functional models know their output shape; in a
    subclassed model only layers with ``units`` or ``filters`` tell.
    """
    try:
        units = layer.output.shape[1 if channels_first(layer) else -1]
    except (AttributeError, ValueError, TypeError):
        units = getattr(layer, "units", None) or getattr(layer, "filters", None)
    return units if isinstance(units, int) and units > 0 else None
