"""Stacking Dead ReLU records into one array per field: a :class:`Series` per (run, layer).

Records arrive one per (run, tag, step), from TensorBoard's data provider (the
plugin) or straight from event files (``deadrelu report``). Both stack them
here, with the same rules: records that do not parse are skipped and listed,
and a restarted job's steps follow "the later file wins"
(:func:`later_file_wins`), so the tab and the report agree.
"""

import bisect
import collections
import dataclasses

import numpy as np

from tensorboard_plugin_deadrelu.core import metadata

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

