"""The Dead ReLU TensorBoard plugin: HTTP routes only.

Reading lives in ``series.py``, the analysis in ``analysis.py``, wire formats in
``encoding.py``; each route here parses its parameters, calls those, and turns
what goes wrong into a JSON error. Routes (under ``/data/plugin/deadrelu/``):

* ``GET tags``                          every run and layer with its shape;
* ``GET heatmap?run=&tag=[&format=binary&field=]`` one layer's per-unit sums;
* ``GET overview?run=[&threshold=]``    per layer and step: dead unit counts
  (and units with an exactly-zero gradient when the layer has a gradient series);
* ``GET static/<file>``                 the tab's ES module.
"""

import functools
import importlib.util
import os
import re

import numpy as np
from werkzeug import wrappers

from tensorboard import errors
from tensorboard import plugin_util
from tensorboard.plugins import base_plugin

from tensorboard_plugin_deadrelu import analysis
from tensorboard_plugin_deadrelu import encoding
from tensorboard_plugin_deadrelu import http_util
from tensorboard_plugin_deadrelu import metadata
from tensorboard_plugin_deadrelu import series as series_lib

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
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "frontend")


def sample_limit_from(context):
    """The number of steps per (run, tag) TensorBoard keeps for this plugin.

    None when it keeps every step (``--samples_per_plugin deadrelu=0``) or when
    the limit is unknown because the loader did not set it.
    """
    hints = getattr(context, "sampling_hints", None) or {}
    limit = hints.get(metadata.PLUGIN_NAME)
    return int(limit) if limit else None


def _natural_key(text):
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]


def model_order_key(series):
    """Sorts layers by their position in the model, then ``dense_2`` before ``dense_10``."""
    return (series.order is None, series.order if series.order is not None else 0, _natural_key(series.tag))


def gradient_overview(series):
    """The ``gradients`` object of a layer's overview entry, from its gradient series.

    Per step: how many units got an exactly-zero gradient on every probe input
    (the dead definition applied to the gradient record), and the layer's mean
    over units of mean |d(loss)/d(pre-activation)| (None when no unit saw a
    finite gradient), which shows a vanishing gradient of the whole layer.
    """
    per_step = analysis.layer_mean_abs(series.count, series.abs_sum, series.nonfinite)
    return {
        "tag": series.tag,
        "steps": series.steps.tolist(),
        "count": series.count.tolist(),
        "zero": analysis.dead_counts(series.count, series.zeros).tolist(),
        "mean_abs": [None if np.isnan(m) else float(m) for m in per_step],
    }


def overview_layer(series, threshold, gradients=None):
    """One layer's entry of the ``overview`` route; ``gradients`` its gradient series, if any."""
    dead = analysis.dead_mask(series.count, series.zeros)
    entry = {
        "tag": series.tag,
        "units": series.units,
        "steps": series.steps.tolist(),
        "count": series.count.tolist(),
        "dead": dead.sum(axis=1).tolist(),
        "nearly_dead": analysis.nearly_dead_counts(series.count, series.zeros, threshold).tolist(),
        "still_dead": analysis.still_dead_counts(dead).tolist(),
        "death_step": analysis.death_steps(series.steps, dead),
        "revived": analysis.revived(dead).tolist(),
    }
    if gradients is not None:
        entry["gradients"] = gradient_overview(gradients)
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
            return http_util.error_response(request, 400, str(e))
        except series_lib.UnknownSeriesError as e:
            return http_util.error_response(request, 404, str(e))
        except errors.PublicError as e:
            return http_util.error_response(request, e.http_code, str(e))

    return wrapped


class DeadReluPlugin(base_plugin.TBPlugin):
    """Serves per-unit zero-output statistics of ReLU layers to the Dead ReLU tab."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._reader = series_lib.SeriesReader(context.data_provider, sample_limit_from(context))
        self._frontend_folder = frontend_folder()

    def get_plugin_apps(self):
        return {
            "/tags": self._serve_tags,
            "/heatmap": self._serve_heatmap,
            "/overview": self._serve_overview,
            "/static/*": self._serve_static,
        }

    def is_active(self):
        # TensorBoard's /data/plugins_listing already marks the tab active when
        # the data provider lists this plugin's data; anything slower here
        # would block the whole UI.
        return False

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name=TAB_NAME)

    @wrappers.Request.application
    @_json_errors
    def _serve_tags(self, request):
        ctx = plugin_util.context(request.environ)
        eid = plugin_util.experiment_id(request.environ)
        runs = self._reader.all_series(ctx, eid)
        body = {run: {tag: s.summary() for tag, s in tags.items()} for run, tags in runs.items() if tags}
        return http_util.json_response(request, body)

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
        series = self._reader.series(ctx, eid, run, tag)
        if form == "binary":
            return http_util.bytes_response(encoding.heatmap_binary(series, field), "application/octet-stream")
        return http_util.bytes_response(encoding.heatmap_json(series), "application/json")

    @wrappers.Request.application
    @_json_errors
    def _serve_overview(self, request):
        run = _required(request, "run")
        try:
            threshold = analysis.check_threshold(
                request.args.get("threshold", analysis.DEFAULT_NEARLY_DEAD_THRESHOLD)
            )
        except ValueError as e:
            raise _BadRequest(str(e)) from None
        ctx = plugin_util.context(request.environ)
        eid = plugin_util.experiment_id(request.environ)
        runs = self._reader.all_series(ctx, eid, runs=[run])
        if not runs.get(run):
            raise series_lib.UnknownSeriesError("run %r has no Dead ReLU data" % (run,))
        tags = runs[run]
        # Gradient series belong to their activation layer's entry, not a layer of their own.
        layers = sorted((s for s in tags.values() if s.kind != metadata.KIND_GRADIENTS), key=model_order_key)
        body = {
            "run": run,
            "threshold": threshold,
            "layers": [self._overview_layer(s, threshold, self._gradients_of(tags, s)) for s in layers],
        }
        return http_util.json_response(request, body)

    @staticmethod
    def _gradients_of(tags, series):
        gradients = tags.get(metadata.gradients_tag(series.tag))
        return gradients if gradients is not None and gradients.kind == metadata.KIND_GRADIENTS else None

    @staticmethod
    def _overview_layer(series, threshold, gradients):
        # Series are immutable per data version, so the result can live on it;
        # only the last threshold, so a threshold slider cannot grow it. The
        # gradient series object is part of the key: a new version is a new object.
        key = (threshold, gradients)
        cached = series.memo.get("overview")
        if cached is None or cached[0] != key:
            cached = series.memo["overview"] = (key, overview_layer(series, threshold, gradients))
        return cached[1]

    @wrappers.Request.application
    def _serve_static(self, request):
        prefix_at = request.path.find(_STATIC_PREFIX)
        relative = request.path[prefix_at + len(_STATIC_PREFIX) :] if prefix_at >= 0 else ""
        return http_util.static_file_response(request, self._frontend_folder, relative)
