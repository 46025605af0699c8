"""The plugin's reading of Dead ReLU series through TensorBoard's data provider.

TensorBoard hands the plugin one small tensor per (run, tag, step); the tab
wants, per (run, tag), one stacked :class:`~tensorboard_plugin_deadrelu.core.series.Series`.
:class:`SeriesReader`

* lists layers from TensorBoard's metadata alone (:meth:`SeriesReader.listing`),
  as the histogram plugin's index does: the cost grows with the number of
  tags, not of records; a layer's width comes from its plugin content (records
  written by 0.1.0 lack it: one record of such a layer is read, once);
* reads a layer's records only when that layer is asked for, through
  :func:`series.build_series` (records that do not parse are skipped and
  reported; "the later file wins" applies under both loaders);
* keeps series, encoded bodies and per-layer summaries in caches bounded in
  bytes (:class:`caching.ByteLRU`), each entry valid for one data version
  (TensorBoard's listing says when a series changed).

It reads only through ``context.data_provider``: under the default fast loader
the multiplexer does not exist.
"""

import concurrent.futures
import ctypes
import ctypes.util
import dataclasses
import sys
import threading

import numpy as np

from tensorboard.data import provider

from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.core import ordering
from tensorboard_plugin_deadrelu.core import series as series_lib
from tensorboard_plugin_deadrelu.server import caching
from tensorboard_plugin_deadrelu.server import options

# ``read_tensors`` needs a cap on the points it returns. TensorBoard's reservoir
# already bounded what it kept (see loader.py), so ask for everything it has;
# both data providers accept any cap larger than the series.
READ_EVERYTHING = 2**31 - 1


class UnknownSeriesError(LookupError):
    """The requested run or tag has no Dead ReLU data; the message names it."""


def _malloc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
        return None


_MALLOC_TRIM = _malloc_trim() if sys.platform.startswith("linux") else None


def release_freed_memory():
    """Hands the memory freed after reading a series back to the operating system.

    Reading a layer allocates one small array per record and field, freed
    once the series is stacked (encoding a JSON heatmap, one string per row);
    glibc keeps such freed heap memory in the process unless asked to return it (measured on the Transformer run with a
    64 MB cache: the Python process grew +256 MB without it and per-thread
    reading, +144 MB with both). A no-op where malloc_trim does not exist.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def data_version(time_series):
    """What changes whenever TensorBoard's kept data of a series changes.

    The reservoir always keeps the newest record, so a new record moves
    ``max_step`` or ``max_wall_time``; a rewritten run moves ``max_wall_time``.
    """
    return (
        time_series.max_step,
        time_series.max_wall_time,
        time_series.plugin_content,
        time_series.description,
    )


@dataclasses.dataclass(frozen=True)
class Listed:
    """One series as TensorBoard's metadata listing describes it, without reading records."""

    run: str
    tag: str
    time_series: object  # provider.TensorTimeSeries
    content: object  # metadata.PluginContent, or None when it cannot be read
    units: object  # int; None until known (0.1.0 records without units in their content)

    @property
    def version(self):
        return data_version(self.time_series)

    @property
    def kind(self):
        return self.content.kind if self.content else metadata.KIND_ACTIVATIONS

    @property
    def order(self):
        return self.content.order if self.content else None

    def to_json(self, sample_limit):
        """The entry of the ``tags`` route for this series."""
        return {
            "units": self.units,
            "last_step": self.time_series.max_step,
            "last_wall_time": self.time_series.max_wall_time,
            "description": self.time_series.description or "",
            "kind": self.kind,
            "order": self.order,
            "sample_limit": sample_limit,
        }


# Reading and summarizing run on this one thread (started on first use):
# glibc gives every thread that allocates its own arena and keeps what it
# freed there, and TensorBoard serves each request on a new thread, so reads
# spread over request threads held up to ~16 arenas' worth of freed memory
# (measured: +256 MB instead of +144 MB for a 64 MB cache). The work is bound
# by the GIL anyway, so one thread costs no parallelism. Nothing it runs
# submits to it again, so it cannot wait on itself.
_WORKER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="deadrelu-read")


def _compute_then_release(compute, *args):
    # Reading a layer or encoding its JSON frees its many intermediate arrays
    # and strings once done; give that memory back before the next task.
    try:
        return compute(*args)
    finally:
        release_freed_memory()


# Records per data provider call when reading a run's layers together (see SeriesReader.derived_many).
PREFETCH_BATCH_BYTES = 64 * 2**20


def _estimated_bytes(listed, sample_limit):
    """About how many bytes of records TensorBoard holds for a listed series
    (~9 per unit and step; the listing gives the last step, not how many were kept)."""
    steps = (listed.time_series.max_step or 0) + 1
    if sample_limit:
        steps = min(steps, sample_limit)
    return 9 * max(listed.units or 1, 1) * steps


class SeriesReader:
    """Lists and reads Dead ReLU series through a data provider, with byte-bounded caches.

    Safe to share between the request threads of TensorBoard's server.
    """

    def __init__(self, data_provider, sample_limit, cache_bytes=options.DEFAULT_CACHE_MB * 2**20):
        """
        Args:
          data_provider: ``context.data_provider`` of the plugin.
          sample_limit: TensorBoard's reservoir size for this plugin (the
            ``--samples_per_plugin`` value), or None when it keeps every step.
          cache_bytes: What the caches may hold together: 7/8 for series and
            encoded bodies, 1/8 for small per-layer summaries (which thus
            outlive the series they were computed from).
        """
        self._provider = data_provider
        self._sample_limit = sample_limit
        self.records = caching.ByteLRU(cache_bytes - cache_bytes // 8)
        self.summaries = caching.ByteLRU(cache_bytes // 8)
        self._lock = threading.Lock()
        self._key_locks = {}  # cache key -> Lock held while computing it

    @property
    def sample_limit(self):
        return self._sample_limit

    def _list(self, ctx, experiment_id, runs=None, tags=None):
        run_tag_filter = provider.RunTagFilter(runs=runs, tags=tags) if runs or tags else None
        return self._provider.list_tensors(
            ctx, experiment_id=experiment_id, plugin_name=metadata.PLUGIN_NAME, run_tag_filter=run_tag_filter
        )

    def listing(self, ctx, experiment_id, runs=None):
        """``{run: {tag: Listed}}`` of every Dead ReLU series (of ``runs`` if given).

        Costs one ``list_tensors`` call; records are read only for series
        whose plugin content does not say their width (written by 0.1.0): one
        record each, once per data version.
        """
        raw = self._list(ctx, experiment_id, runs=runs)
        if runs is None:
            self._forget_missing(experiment_id, raw)
        result = {}
        for run, tags in raw.items():
            listed = {}
            missing = []
            for tag, time_series in tags.items():
                try:
                    content = series_lib.parse_content(time_series)
                except metadata.RecordError:
                    listed[tag] = Listed(run, tag, time_series, None, 0)
                    continue
                units = content.units
                if units is None:
                    units = self.summaries.get(("units", experiment_id, run, tag), data_version(time_series))
                    if units is None:
                        missing.append(tag)
                listed[tag] = Listed(run, tag, time_series, content, units)
            if missing:
                for tag, units in self._units_from_one_record(ctx, experiment_id, run, missing, tags).items():
                    listed[tag] = dataclasses.replace(listed[tag], units=units)
            if listed:
                result[run] = listed
        return result

    def _units_from_one_record(self, ctx, experiment_id, run, tags, time_series_by_tag):
        """``{tag: units}`` for series whose content lacks the width, from their newest record."""
        data = self._provider.read_tensors(
            ctx,
            experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=1,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=tags),
        ).get(run, {})
        result = {}
        for tag in tags:
            points = data.get(tag, [])
            try:
                units = metadata.decode_record(points[-1].numpy).units if points else 0
            except metadata.RecordError:
                # The newest record is bad: the whole series says what the layer is.
                units = self.series(ctx, experiment_id, run, tag).units
            self.summaries.put(("units", experiment_id, run, tag), data_version(time_series_by_tag[tag]), units, 200)
            result[tag] = units
        return result

    def listed(self, ctx, experiment_id, run, tag):
        """The :class:`Listed` of ``(run, tag)``.

        Raises:
          UnknownSeriesError: with a message naming the unknown run or tag.
        """
        raw = self._list(ctx, experiment_id, runs=[run], tags=[tag])
        time_series = raw.get(run, {}).get(tag)
        if time_series is None:
            # The filter drops a run whose tags all miss; tell which name is wrong.
            if not self._list(ctx, experiment_id, runs=[run]).get(run):
                raise UnknownSeriesError("run %r has no Dead ReLU data" % (run,))
            raise UnknownSeriesError("run %r has no Dead ReLU tag %r" % (run, tag))
        try:
            content = series_lib.parse_content(time_series)
        except metadata.RecordError:
            content = None
        return Listed(run, tag, time_series, content, content.units if content else 0)

    def series(self, ctx, experiment_id, run, tag, listed=None):
        """The :class:`Series` of ``(run, tag)``, read now unless cached for its data version.

        Args:
          listed: The series' :class:`Listed` when the caller has it (saves a listing call).

        Raises:
          UnknownSeriesError: with a message naming the unknown run or tag.
        """
        listed = listed or self.listed(ctx, experiment_id, run, tag)
        return self._cached(
            self.records,
            (experiment_id, run, tag, "series"),
            listed.version,
            lambda: self._read(ctx, experiment_id, listed),
            lambda s: s.nbytes,
        )

    def cached_derived(self, experiment_id, listed, name, large=False):
        """What :meth:`derived` would return from its cache now, or None."""
        cache = self.records if large else self.summaries
        return cache.get((experiment_id, listed.run, listed.tag, name), listed.version)

    def derived(self, ctx, experiment_id, listed, name, compute, large=False):
        """``compute(series)`` of a listed series, cached per data version under ``name``.

        Small results (per-layer summaries) live in their own cache, so they
        survive the eviction of the series they came from; ``large`` ones
        (encoded bodies, ``bytes``) share the series' cache.
        """
        cache = self.records if large else self.summaries
        key = (experiment_id, listed.run, listed.tag, name)
        value = cache.get(key, listed.version)
        if value is not None:
            return value
        series = self.series(ctx, experiment_id, listed.run, listed.tag, listed)
        return self._cached(cache, key, listed.version, lambda: compute(series), len if large else (lambda v: v.nbytes))

    def _cached(self, cache, key, version, compute, size):
        value = cache.get(key, version)
        if value is not None:
            return value
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        # The tab asks for tags, overview and heatmaps at once; without this
        # each request would read the same cold series, doubling time and memory.
        with key_lock:
            value = cache.get(key, version)
            if value is None:
                value = _WORKER.submit(_compute_then_release, compute).result()
                cache.put(key, version, value, size(value))
            return value

    def derived_many(self, ctx, experiment_id, listed_series, name, compute):
        """``{tag: compute(series)}`` for listed series of one run, like
        :meth:`derived`, but the series neither summarized nor cached are read
        several per data provider call (cut at about
        :data:`PREFETCH_BATCH_BYTES`) and summarized straight from that read.

        For the overview, which needs every layer of a run: one call per
        layer costs a round trip to the fast loader's data server each (49
        for a ResNet-50), and summarizing from the batch keeps working when
        the cache cannot hold the batch.
        """
        result, unread = {}, []
        for listed in listed_series:
            value = self.cached_derived(experiment_id, listed, name)
            if value is not None:
                result[listed.tag] = value
            elif self.records.get((experiment_id, listed.run, listed.tag, "series"), listed.version) is not None:
                result[listed.tag] = self.derived(ctx, experiment_id, listed, name, compute)
            else:
                unread.append(listed)
        batch, batch_bytes = [], 0
        for listed in unread + [None]:
            size = 0 if listed is None else _estimated_bytes(listed, self._sample_limit)
            if batch and (listed is None or batch_bytes + size > PREFETCH_BATCH_BYTES):
                # One task per batch: a run's answer is done before the next
                # run's read starts (the tab draws each run as it comes), and
                # freed memory is released once per batch, not per layer.
                result.update(
                    _WORKER.submit(_compute_then_release, self._summarize_batch, ctx, experiment_id, batch, name, compute).result()
                )
                batch, batch_bytes = [], 0
            if listed is not None:
                batch.append(listed)
                batch_bytes += size
        return result

    def _summarize_batch(self, ctx, experiment_id, batch, name, compute):
        """``{tag: compute(series)}`` of a batch read by :meth:`_read_many`; caches the series and the results."""
        result = {}
        for listed, built in zip(batch, self._read_many(ctx, experiment_id, batch)):
            self.records.put((experiment_id, built.run, built.tag, "series"), listed.version, built, built.nbytes)
            value = compute(built)
            self.summaries.put((experiment_id, built.run, built.tag, name), listed.version, value, value.nbytes)
            result[built.tag] = value
        return result

    def _read_many(self, ctx, experiment_id, batch):
        """The :class:`Series` of a batch of listed series of one run, in its order, from one call."""
        run = batch[0].run
        data = self._provider.read_tensors(
            ctx,
            experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=READ_EVERYTHING,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[listed.tag for listed in batch]),
        ).get(run, {})
        built = []
        for listed in batch:
            points = data.pop(listed.tag, [])
            built.append(series_lib.build_series(run, listed.tag, listed.time_series, points, self._sample_limit))
            del points
        return built

    def _read(self, ctx, experiment_id, listed):
        # One series per request keeps each gRPC answer of the fast loader
        # well under its 256 MiB message limit.
        data = self._provider.read_tensors(
            ctx,
            experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=READ_EVERYTHING,
            run_tag_filter=provider.RunTagFilter(runs=[listed.run], tags=[listed.tag]),
        )
        points = data.get(listed.run, {}).get(listed.tag, [])
        del data
        return series_lib.build_series(listed.run, listed.tag, listed.time_series, points, self._sample_limit)

    def _forget_missing(self, experiment_id, raw_listing):
        def gone(key):
            return key[1] == experiment_id and key[3] not in raw_listing.get(key[2], {})

        def gone_record(key):
            return key[0] == experiment_id and key[2] not in raw_listing.get(key[1], {})

        self.records.forget(gone_record)
        self.summaries.forget(lambda key: gone(key) if key[0] == "units" else gone_record(key))
        with self._lock:
            for key in [k for k in self._key_locks if gone_record(k)]:
                del self._key_locks[key]

