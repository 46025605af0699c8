"""Activations from Flax's intermediate-capture collections, as the ``{name: array}`` that :func:`add` takes."""

import jax.numpy as jnp


def _value_of(leaf):
    """The value of an NNX ``Variable`` (``get_value()`` in new Flax, ``.value`` before), or ``leaf`` itself."""
    get_value = getattr(leaf, "get_value", None)
    if callable(get_value):
        return get_value()
    if hasattr(leaf, "value") and not hasattr(leaf, "shape"):
        return leaf.value
    return leaf


def from_intermediates(intermediates, sep="/"):
    """Flattens captured intermediates to ``{name: activations}``.

    Accepts Linen's ``state["intermediates"]`` (``sow`` or
    ``capture_intermediates=True``: nested dicts of tuples) and NNX's
    ``nnx.pop(model, nnx.Intermediate)`` (a ``State`` of ``Intermediate``
    variables holding tuples). Nested names are joined with ``sep``; a
    trailing ``__call__`` (from ``capture_intermediates``) is dropped. A
    value sown several times in one step (a module called twice) is the
    concatenation of its calls along the batch axis.
    """
    found = {}

    def walk(node, path):
        node = _value_of(node)
        if hasattr(node, "items"):
            for key, child in node.items():
                walk(child, path + (str(key),))
            return
        name_path = path[:-1] if path and path[-1] == "__call__" else path
        name = sep.join(name_path)
        values = list(node) if isinstance(node, (tuple, list)) else [node]
        values = [_value_of(v) for v in values]
        found[name] = values[0] if len(values) == 1 else jnp.concatenate(values, axis=0)

    walk(intermediates, ())
    return found
