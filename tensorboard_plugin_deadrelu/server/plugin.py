"""The Dead ReLU TensorBoard plugin: HTTP routes only.

Reading lives in ``series.py``, the analysis in ``analysis.py``, wire formats in
``encoding.py``; each route here parses its parameters, calls those, and turns
what goes wrong into a JSON error. Routes (under ``/data/plugin/deadrelu/``):

* ``GET tags``                          every run and layer, from TensorBoard's listing only;
* ``GET heatmap?run=&tag=[&format=binary&field=]`` one layer's per-unit sums;
* ``GET overview?run=[&threshold=][&tau=][&per_unit=0]`` per layer and step: dead, nearly dead,
  still dead and τ-dormant unit counts (and units with an exactly-zero gradient
  when the layer has a gradient series, and the units recycled per step when it
  has a ``<layer>/recycled`` series);
* ``GET runs_summary[?regex=][&source=auto|records]`` one row per run (a sweep's
  runs table): units, dead units, worst layer, first death step, zero-gradient
  units at the latest step, from the dead_fraction scalars where a run has them;
* ``GET static/<file>``                 the tab's ES module.
"""

import functools
import importlib.util
import os

import numpy as np
from werkzeug import wrappers

from tensorboard import errors
from tensorboard import plugin_util
from tensorboard.plugins import base_plugin

from tensorboard_plugin_deadrelu.core import analysis
from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.core import ordering
from tensorboard_plugin_deadrelu.server import encoding
from tensorboard_plugin_deadrelu.server import options
from tensorboard_plugin_deadrelu.server import reader as reader_lib
from tensorboard_plugin_deadrelu.server import responses
from tensorboard_plugin_deadrelu.server import sweep

TAB_NAME = "Dead ReLU"
_STATIC_PREFIX = "/data/plugin/%s/static/" % metadata.PLUGIN_NAME


def frontend_folder():
    """The folder holding the tab's ES module.

    Installed, it is the package ``tensorboard_plugin_deadrelu.frontend``
    (setup.py maps ``frontend/`` there). Run from the source checkout's root,
    the package resolves to the checkout, which has no such subpackage; the
    files are then in the checkout's ``frontend/``.
    """
    try:
        spec = importlib.util.find_spec("tensorboard_plugin_deadrelu.frontend")
    except ImportError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(os.path.dirname(package), "frontend")


def sample_limit_from(context):
    """The number of steps per (run, tag) TensorBoard keeps for this plugin.

    None when it keeps every step (``--samples_per_plugin deadrelu=0``) or when
    the limit is unknown because the loader did not set it.
    """
    hints = getattr(context, "sampling_hints", None) or {}
    limit = hints.get(metadata.PLUGIN_NAME)
    return int(limit) if limit else None


def cache_bytes_from(context):
    """The byte limit of the plugin's caches: ``--deadrelu_cache_mb`` (see loader.py)."""
    flags = getattr(context, "flags", None)
    megabytes = getattr(flags, "deadrelu_cache_mb", None)
    return int((options.DEFAULT_CACHE_MB if megabytes is None else megabytes) * 2**20)


def gradient_overview(tag, summary):
    """The ``gradients`` object of a layer's overview entry, from its gradient series'
    :class:`analysis.GradientSummary`.

    Per step: how many units got an exactly-zero gradient on every probe input
    (the dead definition applied to the gradient record), and the layer's mean
    over units of mean |d(loss)/d(pre-activation)| (None when no unit saw a
    finite gradient), which shows a vanishing gradient of the whole layer.
    """
    return {
        "tag": tag,
        "steps": summary.steps.tolist(),
        "count": summary.count.tolist(),
        "zero": summary.zero.tolist(),
        "mean_abs": [None if np.isnan(m) else float(m) for m in summary.mean_abs],
    }


def overview_layer(tag, order, summary, gradients=None, per_unit=True, recycled=None):
    """One layer's entry of the ``overview`` route from its :class:`analysis.LayerSummary`
    (and the ``gradients`` object of :func:`gradient_overview`, if any); with
    ``per_unit`` False, without the per-unit ``death_step`` and ``revived``
    lists (most of the answer's bytes for wide layers)."""
    entry = {
        "tag": tag,
        "order": order,
        "units": summary.units,
        "steps": summary.steps.tolist(),
        "count": summary.count.tolist(),
        "dead": summary.dead.tolist(),
        "nearly_dead": summary.nearly_dead.tolist(),
        "still_dead": summary.still_dead.tolist(),
        "dormant": summary.dormant.tolist(),
    }
    if per_unit:
        entry["death_step"] = summary.death_steps()
        entry["revived"] = summary.revived.tolist()
    if gradients is not None:
        entry["gradients"] = gradients
    if recycled is not None:
        # [[step, [unit, ...]], ...]: the units a remedy (ReDo) reset at each step.
        entry["recycled"] = recycled
    return entry


class _BadRequest(Exception):
    """A missing or invalid query parameter; the message names it."""


def _required(request, name):
    value = request.args.get(name)
    if value is None:
        raise _BadRequest("missing query parameter %r" % name)
    return value


def _json_errors(route):
    """Turns what can go wrong in a route into a JSON error response."""

    @functools.wraps(route)
    def wrapped(self, request):
        try:
            return route(self, request)
        except _BadRequest as e:
            return responses.error_response(request, 400, str(e))
        except reader_lib.UnknownSeriesError as e:
            return responses.error_response(request, 404, str(e))
        except errors.PublicError as e:
            return responses.error_response(request, e.http_code, str(e))

    return wrapped


class DeadReluPlugin(base_plugin.TBPlugin):
    """Serves per-unit zero-output statistics of ReLU layers to the Dead ReLU tab."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._reader = reader_lib.SeriesReader(
            context.data_provider, sample_limit_from(context), cache_bytes=cache_bytes_from(context)
        )
        self._frontend_folder = frontend_folder()
        self._runs_summary = sweep.RunsSummary(self._reader, context.data_provider)

    def get_plugin_apps(self):
        return {
            "/tags": self._serve_tags,
            "/heatmap": self._serve_heatmap,
            "/overview": self._serve_overview,
            "/runs_summary": self._serve_runs_summary,
            "/static/*": self._serve_static,
        }

    def is_active(self):
        # TensorBoard's /data/plugins_listing already marks the tab active when
        # the data provider lists this plugin's data; anything slower here
        # would block the whole UI.
        return False

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name=TAB_NAME)

    def tags_impl(self, ctx, experiment_id):
        """The ``tags`` body: from TensorBoard's metadata listing, reading no record
        (except one per layer written by 0.1.0, whose content lacks its width)."""
        listing = self._reader.listing(ctx, experiment_id)
        limit = self._reader.sample_limit
        return {
            run: {tag: listing[run][tag].to_json(limit) for tag in sorted(listing[run], key=ordering.natural_key)}
            for run in sorted(listing, key=ordering.natural_key)
        }

    @wrappers.Request.application
    @_json_errors
    def _serve_tags(self, request):
        ctx = plugin_util.context(request.environ)
        eid = plugin_util.experiment_id(request.environ)
        return responses.json_response(request, self.tags_impl(ctx, eid))

    @wrappers.Request.application
    @_json_errors
    def _serve_heatmap(self, request):
        run = _required(request, "run")
        tag = _required(request, "tag")
        form = request.args.get("format", "json")
        if form not in ("json", "binary"):
            raise _BadRequest("format must be 'json' or 'binary', got %r" % form)
        field = None
        if form == "binary":
            field = _required(request, "field")
            if field not in encoding.BINARY_FIELDS:
                raise _BadRequest("field must be one of %s, got %r" % ("|".join(encoding.BINARY_FIELDS), field))
        ctx = plugin_util.context(request.environ)
        eid = plugin_util.experiment_id(request.environ)
        listed = self._reader.listed(ctx, eid, run, tag)
        if form == "binary":
            # Sent straight from the cached series' array: no encoded copy to cache.
            parts = encoding.heatmap_binary_parts(self._reader.series(ctx, eid, run, tag, listed), field)
            return responses.bytes_response(parts, "application/octet-stream")
        body = self._reader.derived(ctx, eid, listed, "json", encoding.heatmap_json, large=True)
        return responses.bytes_response(body, "application/json")

    def overview_impl(self, ctx, experiment_id, run, threshold, tau, per_unit=True):
        """The ``overview`` body of ``run``: per layer, in model order, its
        :class:`analysis.LayerSummary` as JSON (and its gradient summary);
        the per-unit lists only with ``per_unit``."""
        listing = self._reader.listing(ctx, experiment_id, runs=[run]).get(run)
        if not listing:
            raise reader_lib.UnknownSeriesError("run %r has no Dead ReLU data" % (run,))
        # Gradient and recycled series belong to their activation layer's entry, not a layer of their own.
        layers = sorted(
            (
                listed for listed in listing.values()
                if listed.kind not in (metadata.KIND_GRADIENTS, metadata.KIND_RECYCLED)
            ),
            key=lambda listed: ordering.model_order_key(listed.order, listed.tag),
        )
        name = ("overview", threshold, tau)
        gradient_series, recycled_series = {}, {}
        for listed in layers:
            gradients = listing.get(metadata.gradients_tag(listed.tag))
            if gradients is not None and gradients.kind == metadata.KIND_GRADIENTS:
                gradient_series[listed.tag] = gradients
            recycled = listing.get(metadata.recycled_tag(listed.tag))
            if recycled is not None and recycled.kind == metadata.KIND_RECYCLED:
                recycled_series[listed.tag] = recycled
        # Layers whose summary is not cached are read together, several per data
        # provider call, rather than one round trip per layer.
        summaries = self._reader.derived_many(
            ctx, experiment_id, layers, name, lambda s: analysis.summarize_layer(s, threshold, tau)
        )
        gradient_summaries = self._reader.derived_many(
            ctx, experiment_id, list(gradient_series.values()), "gradients", analysis.summarize_gradients
        )
        recycled_summaries = self._reader.derived_many(
            ctx, experiment_id, list(recycled_series.values()), "recycled", analysis.summarize_recycled
        )
        entries = []
        for listed in layers:
            gradients = gradient_series.get(listed.tag)
            if gradients is not None:
                gradients = gradient_overview(gradients.tag, gradient_summaries[gradients.tag])
            recycled = recycled_series.get(listed.tag)
            if recycled is not None:
                recycled = recycled_summaries[recycled.tag].to_pairs()
            entries.append(
                overview_layer(listed.tag, listed.order, summaries[listed.tag], gradients, per_unit, recycled)
            )
        return {"run": run, "threshold": threshold, "tau": tau, "layers": entries}

    @wrappers.Request.application
    @_json_errors
    def _serve_overview(self, request):
        run = _required(request, "run")
        try:
            threshold = analysis.check_threshold(
                request.args.get("threshold", analysis.DEFAULT_NEARLY_DEAD_THRESHOLD)
            )
            tau = analysis.check_tau(request.args.get("tau", analysis.DEFAULT_TAU))
        except ValueError as e:
            raise _BadRequest(str(e)) from None
        per_unit = request.args.get("per_unit", "1")
        if per_unit not in ("0", "1"):
            raise _BadRequest("per_unit must be 0 or 1, got %r" % (per_unit,))
        ctx = plugin_util.context(request.environ)
        eid = plugin_util.experiment_id(request.environ)
        return responses.json_response(request, self.overview_impl(ctx, eid, run, threshold, tau, per_unit == "1"))

    def runs_summary_impl(self, ctx, experiment_id, regex="", source="auto"):
        """The ``runs_summary`` body (see :class:`sweep.RunsSummary`)."""
        return self._runs_summary.body(ctx, experiment_id, regex, source)

    @wrappers.Request.application
    @_json_errors
    def _serve_runs_summary(self, request):
        regex = request.args.get("regex", "")
        source = request.args.get("source", "auto")
        if source not in ("auto", sweep.SOURCE_RECORDS):
            raise _BadRequest("source must be 'auto' or 'records', got %r" % (source,))
        ctx = plugin_util.context(request.environ)
        eid = plugin_util.experiment_id(request.environ)
        try:
            body = self.runs_summary_impl(ctx, eid, regex, source)
        except sweep.BadRunFilter as e:
            raise _BadRequest(str(e)) from None
        return responses.json_response(request, body)

    @wrappers.Request.application
    def _serve_static(self, request):
        prefix_at = request.path.find(_STATIC_PREFIX)
        relative = request.path[prefix_at + len(_STATIC_PREFIX) :] if prefix_at >= 0 else ""
        return responses.static_file_response(request, self._frontend_folder, relative)
