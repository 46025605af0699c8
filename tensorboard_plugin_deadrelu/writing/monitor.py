"""What every monitor does per record, whatever the framework it watches.

A framework adapter (the Keras callback, the PyTorch monitor, the trainer
callbacks, the JAX writer) finds the layers, taps them and reduces their
outputs to the four sums of :mod:`~tensorboard_plugin_deadrelu.core.sums`.
It then hands one step's sums to a :class:`RecordLoop`, which applies the
rules every monitor shares:

* steps only increase: TensorBoard's default loader drops the points after a
  step that goes back, so a step at or below the last one written is refused
  (:meth:`RecordLoop.check_step`) or skipped (:meth:`RecordLoop.is_new_step`);
* per layer, one record of its activations, one of its gradients when there
  are any, and the ``deadrelu/<layer>/dead_fraction`` scalar for the Scalars
  tab (only for a layer that saw something at that step);
* ``warn_above``: a warning naming the layer, the step and the dead share when
  a layer's dead share rises above it (once per crossing);
* ``stop_above``: the same warning, and :attr:`RecordLoop.should_stop` is
  True after that step's write, which the adapter turns into its framework's
  way of stopping;
* the remedy (ReDo): :func:`units_to_recycle` picks a record's dead or
  τ-dormant units (the adapter resets their weights), and
  :meth:`RecordLoop.write_recycled` records which units were reset, under
  ``<layer>/recycled`` at the step of the record that found them.
"""

import dataclasses
import logging
import numbers

from tensorboard_plugin_deadrelu.core import analysis
from tensorboard_plugin_deadrelu.core import metadata

logger = logging.getLogger(__name__)


def check_fraction(name, value):
    """``value`` as a float in [0, 1], or None; raises ValueError naming ``name`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError("%s must be None or a fraction in [0, 1], got %r" % (name, value))
    return float(value)


def check_every_n_steps(value):
    """``value`` as None or an int >= 1 (how many optimizer steps between records); ValueError naming ``every_n_steps`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError("every_n_steps must be None or an int >= 1, got %r" % (value,))
    return int(value)


def check_step_value(step):
    """``step`` as an int >= 0; raises ValueError naming ``step`` otherwise."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ValueError("step must be an int >= 0, got %r" % (step,))
    return int(step)


def units_to_recycle(sums, tau=0.0):
    """The units of one record (four sums) that a recycling resets: dead ones with ``tau`` 0,
    τ-dormant ones with ``tau > 0`` (:func:`analysis.recyclable_units`); int64 ``[k]``."""
    return analysis.recyclable_units(sums["count"], sums["zeros"], sums["abs_sum"], sums["nonfinite"], tau)


@dataclasses.dataclass(frozen=True)
class LayerRecord:
    """One watched layer's part of a step.

    ``sums`` (and ``gradient_sums``) are the four sums of :mod:`core.sums`; a
    ``count`` of 0 means the layer saw nothing since the previous record: its
    record is written (the tab shows "no data" there) but no dead share.
    """

    tag: str
    order: int
    sums: dict
    description: str = None
    gradient_sums: dict = None
    gradient_description: str = None


class RecordLoop:
    """Writes a monitor's records step by step and watches the layers' dead shares.

    Args:
      writer: The :class:`~tensorboard_plugin_deadrelu.writing.event_writer.RecordWriter`
        to write into (a non-chief worker's discards everything).
      warn_above: Optional fraction in [0, 1]: log a warning when a layer's
        share of dead units rises above it.
      stop_above: Optional fraction in [0, 1]: like ``warn_above`` (at every
        step above it), and :attr:`should_stop` is True until the next write.
      owner: The name warnings start with, e.g. ``"DeadReluMonitor"``.
    """

    def __init__(self, writer, *, warn_above=None, stop_above=None, owner="DeadReluMonitor"):
        self.writer = writer
        self.warn_above = check_fraction("warn_above", warn_above)
        self.stop_above = check_fraction("stop_above", stop_above)
        self.owner = owner
        self.last_step = None
        self.should_stop = False
        self._above_warn = {}

    def is_new_step(self, step):
        """Whether ``step`` comes after the last step written."""
        return self.last_step is None or step > self.last_step

    def check_step(self, step):
        """``step`` as an int if it is >= 0 and after the last step written; else ValueError naming ``step``."""
        step = check_step_value(step)
        if not self.is_new_step(step):
            raise ValueError(
                "step must be greater than the last written step %d, got %d (TensorBoard drops "
                "the points after a step that goes back)" % (self.last_step, step)
            )
        return step

    def write(self, step, layers):
        """Writes one step: per layer its record, gradient record and dead-share scalar; then flushes.

        Args:
          step: The step, after every step written before (checked).
          layers: :class:`LayerRecord` per watched layer, in model order.

        Returns:
          ``{tag: share of dead units}`` of the layers that saw something.
        """
        step = self.check_step(step)
        self.should_stop = False
        shares = {}
        dead_counts = {}
        for layer in layers:
            self.writer.write_record(
                layer.tag, step, **layer.sums, order=layer.order, description=layer.description
            )
            if layer.gradient_sums is not None:
                self.writer.write_record(
                    layer.tag, step, **layer.gradient_sums, kind=metadata.KIND_GRADIENTS,
                    order=layer.order, description=layer.gradient_description,
                )
            if layer.sums["count"] > 0:
                dead, units = self.writer.write_dead_fraction(layer.tag, step, **layer.sums)
                shares[layer.tag] = dead / units if units else 0.0
                dead_counts[layer.tag] = (dead, units)
        self.writer.flush()
        self.last_step = step
        self._check_thresholds(step, shares, dead_counts)
        return shares

    def write_recycled(self, step, recycled):
        """Records which units were reset, one ``"recycled"`` record per layer that had any; then flushes.

        Args:
          step: The step of the record that found the units (already
            written, so not checked against the last step).
          recycled: ``[(tag, order, units, unit indices)]``; layers with no
            index get no record.
        """
        step = check_step_value(step)
        for tag, order, units, indices in recycled:
            if len(indices) == 0:
                continue
            self.writer.write_record(
                tag, step, **metadata.recycled_sums(units, indices), kind=metadata.KIND_RECYCLED, order=order,
                description="Units of `%s` recycled (ReDo) at this step: weights in re-drawn, weights out "
                "zeroed; count 1, zeros 1 for each recycled unit." % tag,
            )
        self.writer.flush()

    def _check_thresholds(self, step, shares, dead_counts):
        for tag, share in shares.items():
            dead, units = dead_counts[tag]
            was_above = self._above_warn.get(tag, False)
            is_above = self.warn_above is not None and share > self.warn_above
            self._above_warn[tag] = is_above
            if is_above and not was_above:
                logger.warning(
                    "%s: layer %r has %.1f%% dead units (%d of %d) at step %d, more than warn_above=%g",
                    self.owner, tag, 100 * share, dead, units, step, self.warn_above,
                )
            if self.stop_above is not None and share > self.stop_above:
                logger.warning(
                    "%s: layer %r has %.1f%% dead units (%d of %d) at step %d, more than stop_above=%g; "
                    "stopping training",
                    self.owner, tag, 100 * share, dead, units, step, self.stop_above,
                )
                self.should_stop = True

    def close(self):
        """Closes the writer (only flushes a writer the user gave). Idempotent."""
        self.writer.close()


class StepsPerRun:
    """The last step written into each run folder, kept across the monitors of one callback.

    A trainer callback makes a new monitor for every ``fit``/``train``; a
    resumed run writes into the same folder again, and a record at a step not
    after the last one there would make TensorBoard drop points.
    """

    def __init__(self, owner="DeadReluCallback"):
        self.owner = owner
        self._last = {}

    def last(self, run_dir):
        """The last step written into ``run_dir``, or None."""
        return self._last.get(run_dir)

    def allows(self, run_dir, step):
        """Whether a record at ``step`` may go into ``run_dir``; logs a warning when it may not."""
        last = self._last.get(run_dir)
        if last is not None and step <= last:
            logger.warning(
                "%s: skipping the record at step %d: records up to step %d are already in %s",
                self.owner, step, last, run_dir,
            )
            return False
        return True

    def wrote(self, run_dir, step):
        """Notes that a record at ``step`` went into ``run_dir``."""
        self._last[run_dir] = step
