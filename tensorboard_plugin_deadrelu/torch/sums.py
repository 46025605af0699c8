"""One watched module's running sums, kept on the device of its outputs.

:class:`LayerSums` adds each output tensor to per-unit sums with a few torch
reductions, without reading anything back to the host on an accelerator; the
sums are read (one transfer for all layers, :func:`read_all`) when a record is
written. The sums mean what :mod:`tensorboard_plugin_deadrelu.core.metadata` says;
``count`` is known from the shapes alone, so it stays a Python int.
"""

import numpy as np
import torch

from tensorboard_plugin_deadrelu.torch.modules import default_units_dim

# Rows of the [3, units] float64 sums tensor.
NONZERO, ABS_SUM, NONFINITE = 0, 1, 2

# A float32 sum of 0/1 values is exact up to this many values per unit.
FLOAT32_EXACT_COUNT = 2**24


class LayerSums:
    """The sums of one watched module since the last read: ``count`` and a ``[3, units]`` tensor.

    The tensor holds, per unit, the values that were not exactly 0 (NaN and
    Inf included), the sum of ``|value|`` over finite values and the NaN/Inf
    values, in float64 (exact for counts up to 2**53); zeros = count - nonzero.
    ``units`` is None until the first output is seen.
    """

    def __init__(self, tag, units_dim=None, nonnegative=False):
        self.tag = tag
        self.units_dim = units_dim  # None: by rank (default_units_dim)
        # Outputs never below 0 (ReLU, ReLU6, Hardsigmoid): |x| is x, one pass less.
        self.nonnegative = nonnegative
        self.count = 0
        self.sums = None

    @property
    def units(self):
        return None if self.sums is None else self.sums.shape[1]

    def _grouped(self, output):
        """``output`` as ``[rows, units]`` or ``[batch, units, positions]``, and the axes to reduce."""
        rank = output.dim()
        dim = self.units_dim if self.units_dim is not None else default_units_dim(rank)
        if dim is None:
            raise ValueError(
                "module %r output has shape %s: no default units axis for rank %d; pass "
                "units_dims={%r: axis} to DeadReluMonitor" % (self.tag, tuple(output.shape), rank, self.tag)
            )
        if not -rank <= dim < rank or dim in (0, -rank):
            raise ValueError(
                "units_dims[%r] = %d is not a non-batch axis of the output of shape %s"
                % (self.tag, dim, tuple(output.shape))
            )
        dim %= rank
        if dim == rank - 1:
            return output.reshape(-1, output.shape[-1]), (0,)
        # A free reshape keeps the units axis in place: reduce around it (no transpose).
        # Every size is spelled out: -1 is ambiguous for an empty batch.
        batch, positions = int(np.prod(output.shape[:dim])), int(np.prod(output.shape[dim + 1 :]))
        return output.reshape(batch, output.shape[dim], positions), (0, 2)

    def add(self, output, exact=False):
        """Adds one output tensor of the module to the sums (call under ``torch.no_grad()``).

        Float outputs on the CPU take a fast path when every value is finite;
        ``exact=True`` always takes the value-by-value path that accelerators,
        integers and NaN/Inf take (both give the sums of the rule in
        :mod:`tensorboard_plugin_deadrelu.core.sums`).
        """
        if output.is_complex() or output.dtype == torch.bool:
            raise ValueError("module %r output has dtype %s; it must be real numbers" % (self.tag, output.dtype))
        grouped, axes = self._grouped(output.detach())
        units = grouped.shape[1]
        if self.sums is None:
            # Not an inference tensor even when the first call runs in inference_mode.
            with torch.inference_mode(False):
                self.sums = torch.zeros(3, units, dtype=torch.float64, device=grouped.device)
        elif units != self.sums.shape[1]:
            raise ValueError(
                "module %r output has %d units (shape %s) but had %d before; a module called "
                "on inputs of several widths needs one module per width"
                % (self.tag, units, tuple(output.shape), self.sums.shape[1])
            )
        elif self.sums.device != grouped.device:
            self.sums = self.sums.to(grouped.device)
        per_unit = grouped.numel() // units if units else 0
        self.count += per_unit
        if (
            not exact
            and grouped.dtype.is_floating_point
            and grouped.device.type == "cpu"
            and per_unit <= FLOAT32_EXACT_COUNT
        ):
            if self._add_finite(grouped, axes):
                return
        self._add_exact(grouped, axes)

    def _add_finite(self, grouped, axes):
        """The fast path: adds the sums if every value is finite and returns True, else adds nothing.

        Float ops only (they vectorise better than comparisons into bool
        tensors): ``sign(|x|)`` is 1 for a non-zero value and 0 for 0 or -0.0.
        A finite sum of ``|x|`` means that no value was NaN or Inf. Reading
        that flag is free on the CPU, where nothing runs asynchronously.
        """
        # float32 and narrower sum in float32 within a call (as the TensorFlow op does), float64 in float64.
        work = torch.float64 if grouped.dtype == torch.float64 else torch.float32
        magnitudes = grouped if self.nonnegative else grouped.abs()
        abs_sum = magnitudes.sum(axes, dtype=work)
        if not bool(torch.isfinite(abs_sum).all()):
            return False
        self.sums[NONZERO] += torch.sign(magnitudes).sum(axes, dtype=work)
        self.sums[ABS_SUM] += abs_sum
        return True

    def _add_exact(self, grouped, axes):
        """Adds the sums with NaN/Inf handled value by value; no host read (accelerators, integers)."""
        self.sums[NONZERO] += (grouped != 0).sum(axes)
        if grouped.dtype.is_floating_point:
            finite = torch.isfinite(grouped)
            self.sums[ABS_SUM] += torch.where(finite, grouped.abs(), 0).sum(axes, dtype=torch.float64)
            self.sums[NONFINITE] += (~finite).sum(axes)
        else:
            # In float64 before abs: abs of the smallest integer wraps around to itself.
            self.sums[ABS_SUM] += grouped.to(torch.float64).abs().sum(axes)

    def reset(self):
        self.count = 0
        if self.sums is not None:
            self.sums.zero_()


def read_all(layers):
    """The sums of ``layers`` as numpy: ``{tag: stats dict or None}``, with one device-to-host copy.

    A stats dict has ``count``, ``zeros``, ``abs_sum``, ``nonfinite`` (the
    arguments of a record); None for a layer that has not seen an output yet
    (its width is unknown).
    """
    seen = [layer for layer in layers if layer.sums is not None]
    by_device = {}
    for layer in seen:
        by_device.setdefault(layer.sums.device, []).append(layer)
    host = {}
    for group in by_device.values():
        flat = torch.cat([layer.sums.reshape(-1) for layer in group]).cpu().numpy()
        offset = 0
        for layer in group:
            size = layer.sums.numel()
            host[layer.tag] = flat[offset : offset + size].reshape(3, -1)
            offset += size
    stats = {}
    for layer in layers:
        sums = host.get(layer.tag)
        if sums is None:
            stats[layer.tag] = None
            continue
        nonzero = sums[NONZERO].astype(np.int64)
        stats[layer.tag] = {
            "count": layer.count,
            "zeros": layer.count - nonzero,
            "abs_sum": sums[ABS_SUM],
            "nonfinite": sums[NONFINITE].astype(np.int64),
        }
    return stats
