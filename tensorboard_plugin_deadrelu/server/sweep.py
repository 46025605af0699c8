"""The ``runs_summary`` route's numbers: one row per run of a sweep, from one request.

A sweep of learning rates, initialisers and seeds gives hundreds of runs; the
tab's runs table needs, per run, a few numbers at its latest step (units, dead
units, the worst layer, the first step at which any unit died, units whose
gradient is zero on every probe input). Reading every record of 200 runs for
that would take minutes on a cold server, so the numbers come from the
``deadrelu/<layer>/dead_fraction`` scalars every monitor writes beside its
records (a float per layer and step, read for all runs in one data provider
call), and from the records only for runs without such scalars:

* ``source: "scalars"`` when every activation layer of the run has a
  ``dead_fraction`` scalar whose last step is the layer's last record step
  (dead units = share x units, rounded: the share was dead / units);
* ``source: "records"`` otherwise: the layers' :class:`analysis.LayerSummary`
  (the overview route's, cached alike).

Units per layer always come from the metadata listing. Zero-gradient units need
the gradient records: they are read only for runs that have them, else None.
"""

import re

from tensorboard.data import provider

from tensorboard_plugin_deadrelu.core import analysis
from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.core import ordering

# The writing side's ``event_writer.DEAD_FRACTION_TAG`` (the server may not
# import the writing side; tests/test_runs_summary.py checks they agree).
DEAD_FRACTION_TAG = "deadrelu/%s/dead_fraction"
SCALARS_PLUGIN = "scalars"
SOURCE_SCALARS = "scalars"
SOURCE_RECORDS = "records"
SOURCES = (SOURCE_SCALARS, SOURCE_RECORDS)
# Every point TensorBoard kept (its scalar reservoir holds 1,000 steps by default).
READ_EVERYTHING = 2**31 - 1
# The per-run rows are tiny; this is what the byte-bounded cache charges for one.
_ROW_BYTES = 1024


class BadRunFilter(ValueError):
    """The ``regex`` parameter is not a valid regular expression; the message says why."""


def run_filter(text):
    """A predicate on run names: ``text`` searched anywhere, case-insensitively
    (as the tab's run filter and TensorBoard's run selector); empty matches all.

    Raises:
      BadRunFilter: when ``text`` is not a valid regular expression.
    """
    if not text:
        return lambda run: True
    try:
        pattern = re.compile(text, re.IGNORECASE)
    except re.error as e:
        raise BadRunFilter("regex is not a valid regular expression: %s (%r)" % (e, text)) from None
    return lambda run: pattern.search(run) is not None


def _empty_row(run, layers, last_step):
    return {
        "run": run,
        "layers": len(layers),
        "units": sum(units for _, units in layers),
        "dead": 0,
        "dead_share": None,
        "worst_layer": None,
        "worst_share": None,
        "first_death_step": None,
        "zero_gradient_units": None,
        "last_step": last_step,
        "source": None,
    }


def summarize_run(run, layers, source, last_step):
    """One row of ``runs_summary``.

    Args:
      run: The run's name.
      layers: ``[(tag, units, dead_at_latest, first_death_step or None)]`` in model order.
      source: ``"scalars"`` or ``"records"``.
      last_step: The run's latest step (over its layers).

    Returns:
      The row's dict; the worst layer is the first in model order among those
      with the largest dead share (None when no layer has a unit).
    """
    row = _empty_row(run, [(tag, units) for tag, units, _, _ in layers], last_step)
    row["source"] = source
    row["dead"] = sum(dead for _, _, dead, _ in layers)
    row["dead_share"] = row["dead"] / row["units"] if row["units"] else None
    worst = None
    for tag, units, dead, _ in layers:
        if units and (worst is None or dead / units > worst[1]):
            worst = (tag, dead / units)
    if worst is not None:
        row["worst_layer"], row["worst_share"] = worst
    deaths = [step for _, _, _, step in layers if step is not None]
    row["first_death_step"] = min(deaths) if deaths else None
    return row


def from_scalars(points, units):
    """``(dead_at_latest, first_death_step)`` of a layer from its dead_fraction
    scalar points (``[(step, value)]`` in step order) and its width."""
    dead = int(round(points[-1][1] * units))
    first = next((step for step, value in points if value > 0), None)
    return dead, first


def from_records(summary):
    """``(dead_at_latest, first_death_step)`` of a layer from its :class:`analysis.LayerSummary`."""
    if not len(summary.steps):
        return 0, None
    dead = summary.dead
    first = next((int(step) for step, d in zip(summary.steps, dead) if d > 0), None)
    return int(dead[-1]), first


class RunsSummary:
    """Computes ``runs_summary`` bodies through a :class:`reader.SeriesReader` and the data provider."""

    def __init__(self, series_reader, data_provider):
        self._reader = series_reader
        self._provider = data_provider

    def _scalar_listing(self, ctx, experiment_id, runs, tags):
        if not runs or not tags:
            return {}
        return self._provider.list_scalars(
            ctx,
            experiment_id=experiment_id,
            plugin_name=SCALARS_PLUGIN,
            run_tag_filter=provider.RunTagFilter(runs=runs, tags=tags),
        )

    def _read_scalars(self, ctx, experiment_id, wanted):
        """``{run: {tag: [(step, value)]}}`` of ``wanted`` (``{run: [tags]}``) in one call."""
        if not wanted:
            return {}
        tags = sorted({tag for tags in wanted.values() for tag in tags})
        data = self._provider.read_scalars(
            ctx,
            experiment_id=experiment_id,
            plugin_name=SCALARS_PLUGIN,
            downsample=READ_EVERYTHING,
            run_tag_filter=provider.RunTagFilter(runs=sorted(wanted), tags=tags),
        )
        return {
            run: {tag: sorted((d.step, d.value) for d in data.get(run, {}).get(tag, [])) for tag in tags_of_run}
            for run, tags_of_run in wanted.items()
        }

    def body(self, ctx, experiment_id, regex="", source="auto"):
        """The ``runs_summary`` body: ``{"runs": [row, ...]}`` in the one order of run names.

        Args:
          regex: Only runs whose name matches (see :func:`run_filter`).
          source: ``"auto"`` (scalars where a run has them) or ``"records"`` (always the records).

        Raises:
          BadRunFilter: ``regex`` is not a valid regular expression.
        """
        matches = run_filter(regex)
        listing = self._reader.listing(ctx, experiment_id)
        runs = sorted((run for run in listing if matches(run)), key=ordering.natural_key)
        layers_of = {}
        for run in runs:
            layers_of[run] = sorted(
                # Gradient and recycled series belong to their layer, not layers of their own.
                (listed for listed in listing[run].values() if listed.kind == metadata.KIND_ACTIVATIONS),
                key=lambda listed: ordering.model_order_key(listed.order, listed.tag),
            )
        all_tags = sorted({DEAD_FRACTION_TAG % listed.tag for run in runs for listed in layers_of[run]})
        scalar_listing = self._scalar_listing(ctx, experiment_id, runs, all_tags) if source == "auto" else {}

        rows, to_compute = {}, {}
        for run in runs:
            scalar_series = scalar_listing.get(run, {})
            version = (
                source,
                tuple((l.tag, l.version, l.units) for l in listing[run].values()),
                tuple(sorted((tag, ts.max_step, ts.max_wall_time) for tag, ts in scalar_series.items())),
            )
            cached = self._reader.summaries.get(("runs_summary", experiment_id, run), version)
            if cached is not None:
                rows[run] = cached
            else:
                to_compute[run] = version

        use_scalars = {}
        for run in to_compute:
            scalar_series = scalar_listing.get(run, {})
            layers = layers_of[run]
            has_all = bool(layers) and all(
                (ts := scalar_series.get(DEAD_FRACTION_TAG % l.tag)) is not None
                and ts.max_step == l.time_series.max_step
                for l in layers
            )
            if has_all:
                use_scalars[run] = [DEAD_FRACTION_TAG % l.tag for l in layers]
        scalars = self._read_scalars(ctx, experiment_id, use_scalars)

        for run, version in to_compute.items():
            rows[run] = self._row(ctx, experiment_id, run, listing[run], layers_of[run], scalars.get(run))
            if rows[run]["source"] == SOURCE_SCALARS or run not in use_scalars:
                self._reader.summaries.put(("runs_summary", experiment_id, run), version, rows[run], _ROW_BYTES)
        return {"runs": [rows[run] for run in runs]}

    def _row(self, ctx, experiment_id, run, listed_by_tag, layers, scalars):
        last_step = max((l.time_series.max_step for l in layers), default=None)
        per_layer = None
        if scalars is not None and all(scalars.get(DEAD_FRACTION_TAG % l.tag) for l in layers):
            per_layer = [(l.tag, l.units or 0) + from_scalars(scalars[DEAD_FRACTION_TAG % l.tag], l.units or 0) for l in layers]
            source = SOURCE_SCALARS
        if per_layer is None:
            summaries = self._reader.derived_many(
                ctx,
                experiment_id,
                layers,
                ("overview", analysis.DEFAULT_NEARLY_DEAD_THRESHOLD, analysis.DEFAULT_TAU),
                lambda s: analysis.summarize_layer(s, analysis.DEFAULT_NEARLY_DEAD_THRESHOLD, analysis.DEFAULT_TAU),
            )
            per_layer = [(l.tag, l.units or 0) + from_records(summaries[l.tag]) for l in layers]
            source = SOURCE_RECORDS
        row = summarize_run(run, per_layer, source, last_step)
        gradients = [
            listed_by_tag[metadata.gradients_tag(l.tag)]
            for l in layers
            if metadata.gradients_tag(l.tag) in listed_by_tag
            and listed_by_tag[metadata.gradients_tag(l.tag)].kind == metadata.KIND_GRADIENTS
        ]
        if gradients:
            summaries = self._reader.derived_many(ctx, experiment_id, gradients, "gradients", analysis.summarize_gradients)
            row["zero_gradient_units"] = sum(
                int(summaries[g.tag].zero[-1]) for g in gradients if len(summaries[g.tag].steps)
            )
        return row
