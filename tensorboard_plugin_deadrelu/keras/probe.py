"""The probe sample: the fixed inputs (and targets) the monitor runs in inference mode.

Validating and cutting ``probe_data`` (``fit()``'s conventions: ``x``, ``(x,
y)`` or ``(x, y, sample_weight)``), slicing it into chunks, and checking that
its shapes can feed the model.
"""

import dataclasses

import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class _Probe:
    """The probe sample: model inputs, and targets and sample weights when given (numpy)."""

    x: object
    y: object = None
    sample_weight: object = None

    @property
    def rows(self):
        return keras.tree.flatten(self.x)[0].shape[0]

    def rows_between(self, start, stop):
        """The probe's rows ``start:stop`` (a chunk run through the model at once)."""

        def cut(part):
            return None if part is None else keras.tree.map_structure(lambda a: a[start:stop], part)

        return _Probe(cut(self.x), cut(self.y), cut(self.sample_weight))


def _numeric_arrays(part, what):
    """``part`` (an array or a list/dict of arrays) as numpy arrays with a batch axis."""
    leaves = keras.tree.flatten(part)
    if not leaves:
        raise ValueError("probe_data holds no arrays in its %s" % what)
    arrays = []
    for leaf in leaves:
        array = np.asarray(leaf)
        if array.dtype.kind not in "biuf":
            raise ValueError("probe_data must hold numeric arrays, got dtype %s in its %s" % (array.dtype, what))
        if array.ndim < 1 or array.shape[0] == 0:
            raise ValueError(
                "probe_data must have a batch axis with at least one row, got shape %s in its %s"
                % (array.shape, what)
            )
        arrays.append(array)
    return keras.tree.pack_sequence_as(part, arrays), arrays


def probe_from(probe_data, probe_size):
    """A :class:`_Probe` of ``probe_data`` cut to ``probe_size`` rows.

    ``probe_data`` follows ``fit()``'s convention: an array (or a list/dict of
    arrays for a multi-input model), or a tuple ``(x,)``, ``(x, y)`` or ``(x,
    y, sample_weight)``; ``y`` (the targets) is needed only for gradients.
    """
    y = sample_weight = None
    if isinstance(probe_data, tuple):
        if not 1 <= len(probe_data) <= 3:
            raise ValueError(
                "probe_data as a tuple must be (x,), (x, y) or (x, y, sample_weight), "
                "got a tuple of %d items" % len(probe_data)
            )
        probe_data, y, sample_weight = (probe_data + (None, None))[:3]
    parts = {"inputs x": probe_data, "targets y": y, "sample weights": sample_weight}
    packed, rows = {}, {}
    for what, part in parts.items():
        if part is None and what != "inputs x":
            continue
        packed[what], arrays = _numeric_arrays(part, what)
        rows.update({"%s #%d" % (what, i): a.shape[0] for i, a in enumerate(arrays)})
    if len(set(rows.values())) != 1:
        raise ValueError(
            "probe_data arrays have different numbers of rows: %s"
            % ", ".join("%s: %d" % item for item in rows.items())
        )
    cut = {
        what: keras.tree.map_structure(lambda a: a[:probe_size], part) for what, part in packed.items()
    }
    return _Probe(cut["inputs x"], cut.get("targets y"), cut.get("sample weights"))


def check_probe_fits(model, probe_x):
    """Raises ValueError naming ``probe_data`` if its shapes cannot feed ``model``."""
    try:
        model_inputs = model.inputs
    except (AttributeError, ValueError):
        return  # a subclassed model: the first probe run says whether it fits
    if not model_inputs:
        return
    leaves = keras.tree.flatten(probe_x)
    if len(leaves) != len(model_inputs):
        raise ValueError(
            "probe_data has %d input array(s) but model %r takes %d input(s)"
            % (len(leaves), model.name, len(model_inputs))
        )
    for array, model_input in zip(leaves, model_inputs):
        expected = tuple(model_input.shape)
        got = array.shape
        if len(got) != len(expected) or any(
            e is not None and e != g for e, g in zip(expected[1:], got[1:])
        ):
            raise ValueError(
                "probe_data has shape %s but model %r expects inputs of shape %s"
                % (got, model.name, expected)
            )
