"""Reading Dead ReLU records from TensorBoard's data provider into stacked arrays.

TensorBoard hands the plugin one small tensor per (run, tag, step). The tab and
the analysis want, per (run, tag), arrays with one row per step. This module

* lists layers from TensorBoard's metadata alone (:meth:`SeriesReader.listing`),
  as the histogram plugin's index does: the cost grows with the number of
  tags, not of records; a layer's width comes from its plugin content (records
  written by 0.1.0 lack it: one record of such a layer is read, once);
* reads a layer's records only when that layer is asked for, into a
  :class:`Series`, skipping (and reporting) records that do not parse and
  applying "the later file wins" to restarted jobs under both loaders;
* keeps series, encoded bodies and per-layer summaries in caches bounded in
  bytes (:class:`caching.ByteLRU`), each entry valid for one data version
  (TensorBoard's listing says when a series changed).

It reads only through ``context.data_provider``: under the default fast loader
the multiplexer does not exist.
"""

import bisect
import collections
import concurrent.futures
import ctypes
import ctypes.util
import dataclasses
import re
import sys
import threading

import numpy as np

from tensorboard.data import provider

from tensorboard_plugin_deadrelu import caching
from tensorboard_plugin_deadrelu import loader
from tensorboard_plugin_deadrelu import metadata

# ``read_tensors`` needs a cap on the points it returns. TensorBoard's reservoir
# already bounded what it kept (see loader.py), so ask for everything it has;
# both data providers accept any cap larger than the series.
READ_EVERYTHING = 2**31 - 1

# What the plugin's caches may hold together unless ``--deadrelu_cache_mb`` says otherwise.
DEFAULT_CACHE_MB = loader.DEFAULT_CACHE_MB

# Smallest unsigned integer type holding every count of a series; the binary
# form of the heatmap sends the arrays in this type (<= 4 bytes per cell unless
# a single record counted more than 2**32 - 1 values per unit).
# (largest value, dtype), looked up once: np.iinfo per record cost ~5% of reading a series.
_COUNT_DTYPES = tuple((int(np.iinfo(d).max), np.dtype(d)) for d in (np.uint8, np.uint16, np.uint32, np.uint64))


def count_dtype_for(max_count):
    """Returns the smallest of uint8/16/32/64 that holds ``max_count``."""
    for largest, dtype in _COUNT_DTYPES:
        if max_count <= largest:
            return dtype
    raise ValueError("max_count %r does not fit 64 bits" % (max_count,))


def natural_key(name):
    """Sorts names as people read them: ``dense_2`` before ``dense_10``."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]


def model_order_key(order, tag):
    """The one order of layers everywhere (API, tab, report): by their position in
    the model (``order``; layers without one last), then naturally by tag."""
    return (order is None, order if order is not None else 0, natural_key(tag))


class UnknownSeriesError(LookupError):
    """The requested run or tag has no Dead ReLU data; the message names it."""


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A record that was not used, and why (shown to the user, so phrased for them)."""

    step: int
    reason: str

    def to_json(self):
        return {"step": self.step, "reason": self.reason}


def _owned_nbytes(array):
    # A read-only broadcast (nonfinite without NaN/Inf) holds one element, not the shape.
    return array.nbytes if all(array.strides) or array.size <= 1 else array.itemsize


@dataclasses.dataclass(frozen=True, eq=False)
class Series:
    """Every kept record of one layer (tag) of one run, stacked by step.

    Rows are steps, strictly ascending. ``zeros`` and ``nonfinite`` use the
    smallest unsigned type that holds ``count.max()``; ``abs_sum`` is float32,
    the precision records are written with.
    """

    run: str
    tag: str
    description: str
    kind: str
    order: object  # int or None: the layer's position in its model
    steps: np.ndarray  # int64 [S]
    wall_times: np.ndarray  # float64 [S]
    count: np.ndarray  # int64 [S]
    zeros: np.ndarray  # uint [S, U]
    abs_sum: np.ndarray  # float32 [S, U]
    nonfinite: np.ndarray  # uint [S, U]; a read-only broadcast of 0 when no NaN/Inf was seen
    skipped: tuple  # of Skipped, by step
    # The reservoir size TensorBoard used for this plugin, None when it keeps every step.
    sample_limit: object
    downsampled: bool

    @property
    def units(self):
        return self.zeros.shape[1]

    @property
    def num_steps(self):
        return self.steps.shape[0]

    @property
    def nbytes(self):
        """Memory held by the arrays, for the byte-bounded cache."""
        arrays = (self.steps, self.wall_times, self.count, self.zeros, self.abs_sum, self.nonfinite)
        return sum(_owned_nbytes(a) for a in arrays) + 100 * len(self.skipped) + 500


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


def looks_downsampled(steps, sample_limit):
    """Whether TensorBoard probably dropped steps of a series it kept ``steps`` of.

    The data provider does not say how many records were written, only what it
    kept. A reservoir that never filled kept everything. A full one kept
    everything only if exactly ``sample_limit`` records were written; the
    reservoir drops a uniformly random subset, which leaves uneven gaps, while
    a run written at a fixed interval has even ones. So: full and unevenly
    spaced means downsampled. (A run logged at irregular steps that happens to
    write exactly ``sample_limit`` records is reported as downsampled.)
    """
    if sample_limit is None or len(steps) < sample_limit:
        return False
    gaps = np.diff(steps)
    return not (gaps.size == 0 or np.all(gaps == gaps[0]))


class _Compact(collections.namedtuple("_Compact", "count zeros abs_sum nonfinite")):
    """A decoded record in the types it is stacked in; ``nonfinite`` None when all 0.

    Narrowing each record at once (``metadata.decode_record`` would widen
    every sum to 64 bits) keeps the peak memory of reading a long series near
    the size of the result.
    """


def _compact(value):
    """Decodes a record tensor straight into the types it is stacked in."""
    count, zeros, abs_sum, nonfinite = metadata.decode_fields(value)
    dtype = count_dtype_for(count)
    return _Compact(
        count=count,
        zeros=zeros.astype(dtype),
        abs_sum=abs_sum.astype(np.float32),
        nonfinite=np.broadcast_to(nonfinite, zeros.shape).astype(dtype) if nonfinite.any() else None,
    )


def later_file_wins(data):
    """The points of one series that a restarted job left in force, in reading order.

    A resumed job writes a second event file whose steps restart below the
    first file's last step. TensorBoard's fast loader then drops the older
    points at and after the restart step; the legacy loader
    (``--load_fast=false``) purges only on a ``SessionLog.START`` event, which
    TF2 writers never write, and hands over both files' points. Applying the
    fast loader's rule here makes both loaders and ``deadrelu report`` agree:
    whenever a point's step is not after the last one kept, the kept points at
    that step and later are dropped.

    Args:
      data: Points with a ``step``, in the order they were read (file by
        file, as both data providers and ``logdir_reader`` hand them over).

    Returns:
      A list of the points in force, steps strictly increasing.
    """
    kept = []
    kept_steps = []
    for datum in data:
        step = int(datum.step)
        if kept_steps and step <= kept_steps[-1]:
            cut = bisect.bisect_left(kept_steps, step)
            del kept[cut:], kept_steps[cut:]
        kept.append(datum)
        kept_steps.append(step)
    return kept


def build_series(run, tag, time_series, data, sample_limit):
    """Turns the provider's data for one (run, tag) into a :class:`Series`.

    Args:
      run, tag: Names of the series.
      time_series: The ``provider.TensorTimeSeries`` from ``list_tensors``.
      data: The ``provider.TensorDatum`` list from ``read_tensors``, in the
        order it was read; it is emptied as its records are decoded.
      sample_limit: TensorBoard's reservoir size for this plugin, or None when
        it keeps every step.

    Never raises for bad records: each one that does not parse is left out and
    listed in ``Series.skipped`` with the reason. Points replaced by a restart
    (:func:`later_file_wins`) are dropped without a mention, as TensorBoard does.
    """
    data = list(data) if not isinstance(data, list) else data
    # The reservoir counts every record it kept, bad and replaced ones included.
    kept_steps = sorted(int(d.step) for d in data)
    in_force = later_file_wins(data)
    data.clear()
    data = in_force
    skipped = []
    content = None
    try:
        content = parse_content(time_series)
    except metadata.RecordError as e:
        # The header covers the whole series: none of its records can be trusted.
        skipped = [Skipped(int(d.step), str(e)) for d in data]
        data.clear()

    decoded = []  # (step, wall_time, _Compact), steps increasing
    for index in range(len(data)):
        # Dropping each raw record once decoded frees it, instead of holding
        # the raw and the decoded series at the same time.
        datum, data[index] = data[index], None
        try:
            record = _compact(datum.numpy)
        except metadata.RecordError as e:
            skipped.append(Skipped(int(datum.step), str(e)))
            continue
        decoded.append((int(datum.step), float(datum.wall_time), record))
    del data

    # A layer whose width changed between steps cannot share one heatmap; the
    # newest record says what the layer is now.
    if decoded:
        units = decoded[-1][2].zeros.shape[0]
        kept = []
        for item in decoded:
            if item[2].zeros.shape[0] == units:
                kept.append(item)
            else:
                skipped.append(
                    Skipped(
                        item[0],
                        "record has %d units but the newest record has %d" % (item[2].zeros.shape[0], units),
                    )
                )
    else:
        units, kept = 0, []
    del decoded

    steps = np.array([s for s, _, _ in kept], dtype=np.int64)
    count = np.array([r.count for _, _, r in kept], dtype=np.int64)
    dtype = count_dtype_for(int(count.max()) if count.size else 0)
    shape = (len(kept), units)
    zeros = np.empty(shape, dtype)
    abs_sum = np.empty(shape, np.float32)
    any_nonfinite = any(r.nonfinite is not None for _, _, r in kept)
    nonfinite = np.zeros(shape, dtype) if any_nonfinite else np.broadcast_to(np.zeros((), dtype), shape)
    wall_times = np.array([w for _, w, _ in kept], dtype=np.float64)
    for row in range(len(kept)):
        record = kept[row][2]
        kept[row] = None
        zeros[row] = record.zeros
        abs_sum[row] = record.abs_sum
        if record.nonfinite is not None:
            nonfinite[row] = record.nonfinite

    skipped.sort(key=lambda s: s.step)
    return Series(
        run=run,
        tag=tag,
        description=time_series.description or "",
        kind=content.kind if content else metadata.KIND_ACTIVATIONS,
        order=content.order if content else None,
        steps=steps,
        wall_times=wall_times,
        count=count,
        zeros=zeros,
        abs_sum=abs_sum,
        nonfinite=nonfinite,
        skipped=tuple(skipped),
        sample_limit=sample_limit,
        downsampled=looks_downsampled(kept_steps, sample_limit),
    )


def parse_content(time_series):
    """The :class:`metadata.PluginContent` of a listed series.

    Raises:
      metadata.RecordError: the content is not readable by this version, or
        names a kind of record it does not know; the message says why.
    """
    content = metadata.parse_plugin_content(time_series.plugin_content)
    if content.kind not in metadata.KNOWN_KINDS:
        raise metadata.RecordError(
            "record kind %r is not known to this reader (it knows %s); "
            "upgrade tensorboard-plugin-deadrelu" % (content.kind, ", ".join(metadata.KNOWN_KINDS))
        )
    return content


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

    def __init__(self, data_provider, sample_limit, cache_bytes=DEFAULT_CACHE_MB * 2**20):
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
                    content = parse_content(time_series)
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
            content = parse_content(time_series)
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
            built.append(build_series(run, listed.tag, listed.time_series, points, self._sample_limit))
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
        return build_series(listed.run, listed.tag, listed.time_series, points, self._sample_limit)

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
