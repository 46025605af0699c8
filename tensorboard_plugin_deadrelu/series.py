"""Reading Dead ReLU records from TensorBoard's data provider into stacked arrays.

TensorBoard hands the plugin one small tensor per (run, tag, step). The tab and
the analysis want, per (run, tag), arrays with one row per step. This module
builds those :class:`Series`, skips (and reports) records that do not parse, and
keeps each series in memory until TensorBoard's listing says that it changed,
so a reload that brought no new steps costs one ``list_tensors`` call.

It reads only through ``context.data_provider``: under the default fast loader
the multiplexer does not exist.
"""

import collections
import dataclasses
import threading

import numpy as np

from tensorboard.data import provider

from tensorboard_plugin_deadrelu import metadata

# ``read_tensors`` needs a cap on the points it returns. TensorBoard's reservoir
# already bounded what it kept (see loader.py), so ask for everything it has;
# both data providers accept any cap larger than the series.
READ_EVERYTHING = 2**31 - 1

# Smallest unsigned integer type holding every count of a series; the binary
# form of the heatmap sends the arrays in this type (<= 4 bytes per cell unless
# a single record counted more than 2**32 - 1 values per unit).
_COUNT_DTYPES = (np.uint8, np.uint16, np.uint32, np.uint64)


def count_dtype_for(max_count):
    """Returns the smallest of uint8/16/32/64 that holds ``max_count``."""
    for dtype in _COUNT_DTYPES:
        if max_count <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ValueError("max_count %r does not fit 64 bits" % (max_count,))


class UnknownSeriesError(LookupError):
    """The requested run or tag has no Dead ReLU data; the message names it."""


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A record that was not used, and why (shown to the user, so phrased for them)."""

    step: int
    reason: str

    def to_json(self):
        return {"step": self.step, "reason": self.reason}


@dataclasses.dataclass(frozen=True, eq=False)
class Series:
    """Every kept record of one layer (tag) of one run, stacked by step.

    Rows are steps, ascending and unique. ``zeros`` and ``nonfinite`` use the
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
    # Encoded responses of this exact data (see http_util); a new version of the
    # series is a new object, so entries never go stale.
    memo: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def units(self):
        return self.zeros.shape[1]

    @property
    def num_steps(self):
        return self.steps.shape[0]

    def summary(self):
        """The JSON-ready description of the series used by the ``tags`` route."""
        has_steps = self.num_steps > 0
        return {
            "units": self.units,
            "steps": self.num_steps,
            "first_step": int(self.steps[0]) if has_steps else None,
            "last_step": int(self.steps[-1]) if has_steps else None,
            "description": self.description,
            "kind": self.kind,
            "order": self.order,
            "downsampled": self.downsampled,
            "sample_limit": self.sample_limit,
            "skipped": len(self.skipped),
        }


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

    ``metadata.decode_record`` widens every sum to 64 bits; narrowing each
    record at once keeps the peak memory of reading a long series near the
    size of the result.
    """


def _compact(record):
    dtype = count_dtype_for(record.count)
    return _Compact(
        count=record.count,
        zeros=record.zeros.astype(dtype),
        abs_sum=record.abs_sum.astype(np.float32),
        nonfinite=record.nonfinite.astype(dtype) if record.nonfinite.any() else None,
    )


def build_series(run, tag, time_series, data, sample_limit):
    """Turns the provider's data for one (run, tag) into a :class:`Series`.

    Args:
      run, tag: Names of the series.
      time_series: The ``provider.TensorTimeSeries`` from ``list_tensors``.
      data: The ``provider.TensorDatum`` list from ``read_tensors``; it is
        emptied as its records are decoded.
      sample_limit: TensorBoard's reservoir size for this plugin, or None when
        it keeps every step.

    Never raises for bad records: each one that does not parse is left out and
    listed in ``Series.skipped`` with the reason.
    """
    data = list(data) if not isinstance(data, list) else data
    # The reservoir counts every record it kept, bad ones included.
    kept_steps = sorted(int(d.step) for d in data)
    skipped = []
    content = None
    try:
        content = metadata.parse_plugin_content(time_series.plugin_content)
        if content.kind not in metadata.KNOWN_KINDS:
            raise metadata.RecordError(
                "record kind %r is not known to this reader (it knows %s); "
                "upgrade tensorboard-plugin-deadrelu" % (content.kind, ", ".join(metadata.KNOWN_KINDS))
            )
    except metadata.RecordError as e:
        # The header covers the whole series: none of its records can be trusted.
        skipped = [Skipped(int(d.step), str(e)) for d in data]
        data.clear()

    decoded = []  # (step, wall_time, _Compact)
    while data:
        # Popping frees each raw record once decoded, instead of holding the
        # raw and the decoded series at the same time.
        datum = data.pop()
        try:
            record = metadata.decode_record(datum.numpy)
        except metadata.RecordError as e:
            skipped.append(Skipped(int(datum.step), str(e)))
            continue
        decoded.append((int(datum.step), float(datum.wall_time), _compact(record)))

    # A step written twice (e.g. a restarted run) keeps its newest record.
    decoded.sort(key=lambda item: (item[0], item[1]))
    unique = []
    for item in decoded:
        if unique and unique[-1][0] == item[0]:
            skipped.append(Skipped(item[0], "step %d was written again later; showing the newest record" % item[0]))
            unique[-1] = item
        else:
            unique.append(item)

    # A layer whose width changed between steps cannot share one heatmap; the
    # newest record says what the layer is now.
    if unique:
        units = unique[-1][2].zeros.shape[0]
        kept = []
        for item in unique:
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

    steps = np.array([s for s, _, _ in kept], dtype=np.int64)
    count = np.array([r.count for _, _, r in kept], dtype=np.int64)
    dtype = count_dtype_for(int(count.max()) if count.size else 0)
    shape = (len(kept), units)
    zeros = np.empty(shape, dtype)
    abs_sum = np.empty(shape, np.float32)
    any_nonfinite = any(r.nonfinite is not None for _, _, r in kept)
    nonfinite = np.zeros(shape, dtype) if any_nonfinite else np.broadcast_to(np.zeros((), dtype), shape)
    for row, (_, _, record) in enumerate(kept):
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
        wall_times=np.array([w for _, w, _ in kept], dtype=np.float64),
        count=count,
        zeros=zeros,
        abs_sum=abs_sum,
        nonfinite=nonfinite,
        skipped=tuple(skipped),
        sample_limit=sample_limit,
        downsampled=looks_downsampled(kept_steps, sample_limit),
    )


def _version(time_series):
    """What changes whenever TensorBoard's kept data of a series changes.

    The reservoir always keeps the newest record, so a new record moves
    ``max_step`` or ``max_wall_time``.
    """
    return (
        time_series.max_step,
        time_series.max_wall_time,
        time_series.plugin_content,
        time_series.description,
    )


class SeriesReader:
    """Reads :class:`Series` through a data provider, caching each per data version.

    Safe to share between the request threads of TensorBoard's server.
    """

    def __init__(self, data_provider, sample_limit):
        """
        Args:
          data_provider: ``context.data_provider`` of the plugin.
          sample_limit: TensorBoard's reservoir size for this plugin (the
            ``--samples_per_plugin`` value), or None when it keeps every step.
        """
        self._provider = data_provider
        self._sample_limit = sample_limit
        self._lock = threading.Lock()
        self._cache = {}  # (experiment_id, run, tag) -> (version, Series)
        self._series_locks = {}  # (experiment_id, run, tag) -> Lock held while reading it

    def list(self, ctx, experiment_id):
        """``{run: {tag: TensorTimeSeries}}`` of every Dead ReLU series."""
        return self._provider.list_tensors(ctx, experiment_id=experiment_id, plugin_name=metadata.PLUGIN_NAME)

    def all_series(self, ctx, experiment_id, runs=None):
        """``{run: {tag: Series}}`` for every series (of ``runs`` if given)."""
        listing = self.list(ctx, experiment_id)
        self._forget_missing(experiment_id, listing)
        result = {}
        for run, tags in listing.items():
            if runs is not None and run not in runs:
                continue
            result[run] = {tag: self._get(ctx, experiment_id, run, tag, ts) for tag, ts in tags.items()}
        return result

    def series(self, ctx, experiment_id, run, tag):
        """The :class:`Series` of ``(run, tag)``.

        Raises:
          UnknownSeriesError: with a message naming the unknown run or tag.
        """
        listing = self._provider.list_tensors(
            ctx,
            experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        if tag not in listing.get(run, {}):
            # The filter drops a run whose tags all miss; tell which name is wrong.
            whole_run = self._provider.list_tensors(
                ctx,
                experiment_id=experiment_id,
                plugin_name=metadata.PLUGIN_NAME,
                run_tag_filter=provider.RunTagFilter(runs=[run]),
            )
            if not whole_run.get(run):
                raise UnknownSeriesError("run %r has no Dead ReLU data" % (run,))
            raise UnknownSeriesError("run %r has no Dead ReLU tag %r" % (run, tag))
        return self._get(ctx, experiment_id, run, tag, listing[run][tag])

    def _get(self, ctx, experiment_id, run, tag, time_series):
        key = (experiment_id, run, tag)
        version = _version(time_series)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] == version:
                return cached[1]
            series_lock = self._series_locks.setdefault(key, threading.Lock())
        # The tab asks for tags, overview and a heatmap at once; without this
        # each request would read the same cold series, doubling time and memory.
        with series_lock:
            with self._lock:
                cached = self._cache.get(key)
            if cached is not None and cached[0] == version:
                return cached[1]
            return self._read(ctx, experiment_id, run, tag, time_series, key, version)

    def _read(self, ctx, experiment_id, run, tag, time_series, key, version):
        # One series per request keeps each gRPC answer of the fast loader
        # well under its 256 MiB message limit.
        data = self._provider.read_tensors(
            ctx,
            experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=READ_EVERYTHING,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        points = data.get(run, {}).get(tag, [])
        del data
        built = build_series(run, tag, time_series, points, self._sample_limit)
        with self._lock:
            self._cache[key] = (version, built)
        return built

    def _forget_missing(self, experiment_id, listing):
        with self._lock:
            for key in list(self._cache):
                eid, run, tag = key
                if eid == experiment_id and tag not in listing.get(run, {}):
                    del self._cache[key]
                    self._series_locks.pop(key, None)
