"""Which modules of a PyTorch model the monitor watches, their tags and unit axes.

The ReLU family is the set of activations that output exactly 0, with zero
gradient, on a whole half-line of inputs, so that a unit whose pre-activation
stays there never learns again: ``nn.ReLU`` (also ``inplace=True``),
``nn.ReLU6``, ``nn.Hardswish`` and ``nn.Hardsigmoid`` (the counterparts of the
Keras monitor's ``relu``, ``relu6``, ``hard_silu`` and ``hard_sigmoid``), plus
``nn.LeakyReLU(negative_slope=0)`` and ``nn.Threshold(t, 0)``, which are ReLUs
by another name. ``nn.LeakyReLU`` with a slope, ``nn.RReLU``, ``nn.PReLU``,
``nn.ELU``, ``nn.SELU``, ``nn.CELU``, ``nn.GELU``, ``nn.SiLU``, ``nn.Mish``,
``nn.Softplus`` and ``nn.Tanh`` never output an exact zero (their units cannot
die that way), and ``nn.Hardshrink``/``nn.Softshrink`` are zero on a band
around 0 rather than a half-line: none is watched by default, but any module
can be named in ``modules=`` (its ``abs_sum`` then feeds the tab's dormant view).
"""

from torch import nn

# Always ReLU-family; LeakyReLU and Threshold only with a zero slope / value.
RELU_FAMILY = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid)


def is_relu_family(module):
    """Whether ``module`` is an activation that outputs exactly 0 on a half-line of inputs."""
    if isinstance(module, RELU_FAMILY):
        return True
    if isinstance(module, nn.LeakyReLU):
        return module.negative_slope == 0
    if isinstance(module, nn.Threshold):
        return module.value == 0
    return False


# Elementwise activations: their input is the pre-activation of their output
# units, so a probe can record d(loss)/d(input) for them.
ELEMENTWISE_ACTIVATIONS = RELU_FAMILY + (
    nn.LeakyReLU, nn.Threshold, nn.RReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Softplus, nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Hardshrink, nn.Softshrink,
    nn.Tanhshrink, nn.LogSigmoid, nn.Softsign,
)


def check_gradients_visible(tagged_modules):
    """Raises ValueError naming ``targets`` for a watched module whose input is not a pre-activation."""
    for tag, module in tagged_modules:
        if not isinstance(module, ELEMENTWISE_ACTIVATIONS):
            raise ValueError(
                "targets: module %r (%s) is not an elementwise activation, so its input is not the "
                "pre-activation of its outputs; gradient records need every watched module to be "
                "one (probe without targets, or watch only activations)" % (tag, type(module).__name__)
            )


def has_nonnegative_output(module):
    """Whether ``module`` never outputs a negative value (NaN aside): ReLU, ReLU6, Hardsigmoid."""
    return type(module) in (nn.ReLU, nn.ReLU6, nn.Hardsigmoid)


def unwrap_model(model):
    """The module whose ``named_modules()`` give the tags: ``model`` without its wrappers.

    ``DistributedDataParallel`` and ``DataParallel`` keep the model in
    ``.module`` and a ``torch.compile``'d model in ``._orig_mod``; their
    submodules' names would otherwise start with ``module.`` or
    ``_orig_mod.``, and differ between a wrapped and an unwrapped run.
    """
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def resolve_modules(model, modules):
    """The ``(tag, module)`` pairs to watch, in model order.

    Args:
      model: The unwrapped model (:func:`unwrap_model`).
      modules: None for every ReLU-family module, or an iterable of
        qualified module names (as in ``model.named_modules()``) or modules.

    Raises:
      ValueError: naming ``modules``: an unknown name or a module that is not
        part of ``model``, or (with None) a model without ReLU-family modules.
    """
    named = [(name, module) for name, module in model.named_modules()]
    if modules is None:
        chosen = [(name, module) for name, module in named if is_relu_family(module)]
        if not chosen:
            raise ValueError(
                "modules: model %s has no ReLU-family module (%s); name the modules to "
                "watch in modules=[...]. An activation applied with F.relu inside "
                "forward() is not a module: use an nn.ReLU attribute instead"
                % (type(model).__name__, ", ".join(t.__name__ for t in RELU_FAMILY))
            )
        return [(name or type(module).__name__, module) for name, module in chosen]
    if isinstance(modules, (str, nn.Module)):
        modules = [modules]
    by_name = dict(named)
    names_by_module = {}
    for name, module in named:
        names_by_module.setdefault(id(module), name)
    wanted = set()
    for item in modules:
        if isinstance(item, str):
            if item not in by_name:
                raise ValueError(
                    "modules: %r is not a module of the model; its modules are %s"
                    % (item, [name for name, _ in named if name])
                )
            wanted.add(id(by_name[item]))
        elif isinstance(item, nn.Module):
            if id(item) not in names_by_module:
                raise ValueError("modules: %r is not a submodule of the model" % (item,))
            wanted.add(id(item))
        else:
            raise ValueError("modules must hold module names or nn.Module objects, got %r" % (item,))
    if not wanted:
        raise ValueError("modules must name at least one module, got an empty list")
    seen = set()
    chosen = []
    for name, module in named:
        if id(module) in wanted and id(module) not in seen:
            seen.add(id(module))
            chosen.append((name or type(module).__name__, module))
    return chosen


def default_units_dim(rank):
    """The units axis of an output of ``rank``: last for ``(N, F)`` and ``(N, L, F)``, 1 for ``NC...``.

    Returns None for a rank without a default (1, or above 5).
    """
    if rank in (2, 3):
        return rank - 1
    if rank in (4, 5):
        return 1
    return None


def check_units_dims(units_dims, tags):
    """Validates ``units_dims`` ``{tag: dim}``; returns it as a dict. Raises ValueError naming it."""
    if units_dims is None:
        return {}
    if not hasattr(units_dims, "items"):
        raise ValueError("units_dims must be a mapping {module name: dim}, got %r" % (units_dims,))
    checked = {}
    for tag, dim in units_dims.items():
        if tag not in tags:
            raise ValueError("units_dims: %r is not a watched module; watched: %s" % (tag, list(tags)))
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise ValueError("units_dims[%r] must be an int axis, got %r" % (tag, dim))
        checked[tag] = dim
    return checked


def describe(module):
    """A short description of ``module`` for record descriptions, e.g. ``ReLU(inplace=True)``."""
    text = repr(module)
    return text if len(text) <= 80 and "\n" not in text else type(module).__name__

