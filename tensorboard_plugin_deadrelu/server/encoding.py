"""The two wire forms of a heatmap: JSON for scripts, a compact binary form for the tab.

Binary layout (all little-endian)::

    uint32 H | H bytes of UTF-8 JSON header | zero padding to a multiple of 8 | array

The header has the JSON form's keys minus the three big arrays, plus ``field``,
``dtype`` and ``shape`` (``[steps, units]``); the array is row-major, one row
per step. Counts travel in the smallest unsigned type holding ``max(count)``,
``abs_sum`` as float32, so a cell costs at most 4 bytes (8, as uint64, for a
record that counted 2**32 values or more per unit).

Encoding is pure (Series in, bytes out) so tests and benchmarks call it without
HTTP.
"""

import json
import struct

import numpy as np

BINARY_FIELDS = ("zeros", "abs_sum", "nonfinite")
_ALIGNMENT = 8
# Integer matrices up to this maximum are written through a table of the
# numbers' decimal strings, which is ~3x faster than json.dumps of lists.
_TABLE_LIMIT = 1 << 16


def _dumps(value):
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def heatmap_header(series):
    """The JSON-ready fields of a heatmap besides its three per-unit matrices."""
    has_steps = series.num_steps > 0
    return {
        "run": series.run,
        "tag": series.tag,
        "units": series.units,
        "kind": series.kind,
        "order": series.order,
        "description": series.description,
        "first_step": int(series.steps[0]) if has_steps else None,
        "last_step": int(series.steps[-1]) if has_steps else None,
        "steps": series.steps.tolist(),
        "wall_times": series.wall_times.tolist(),
        "count": series.count.tolist(),
        "skipped": [s.to_json() for s in series.skipped],
        "downsampled": series.downsampled,
        "sample_limit": series.sample_limit,
    }


def int_matrix_json(matrix):
    """JSON text of a 2-D array of non-negative integers, as nested lists."""
    matrix = np.asarray(matrix)
    if matrix.size == 0 or int(matrix.max()) >= _TABLE_LIMIT:
        return _dumps(matrix.tolist())
    table = np.array([str(i) for i in range(int(matrix.max()) + 1)], dtype=object)
    return "[" + ",".join("[" + ",".join(table[row]) + "]" for row in matrix) + "]"


def float_matrix_json(matrix):
    """JSON text of a 2-D float array as nested lists; NaN/Inf become null (JSON has neither)."""
    matrix = np.asarray(matrix)
    if np.isfinite(matrix).all():
        return _dumps(matrix.tolist())
    as_objects = matrix.astype(object)
    as_objects[~np.isfinite(matrix)] = None
    return _dumps(as_objects.tolist())


def heatmap_json(series):
    """The complete JSON body (bytes) of ``GET heatmap`` for ``series``."""
    head = _dumps(heatmap_header(series))
    return "".join(
        [
            head[:-1],
            ',"zeros":',
            int_matrix_json(series.zeros),
            ',"abs_sum":',
            float_matrix_json(series.abs_sum),
            ',"nonfinite":',
            int_matrix_json(series.nonfinite),
            "}",
        ]
    ).encode("utf-8")


def heatmap_binary_parts(series, field):
    """The binary body of ``GET heatmap?format=binary&field=...`` as two buffers:
    the header (bytes) and the array (a bytes-like view of the series' own
    array, not a copy), for a response that sends them one after the other.

    Raises:
      ValueError: ``field`` is not one of :data:`BINARY_FIELDS`.
    """
    if field not in BINARY_FIELDS:
        raise ValueError("field must be one of %s, got %r" % ("|".join(BINARY_FIELDS), field))
    array = getattr(series, field)
    if field == "abs_sum":
        array = array.astype("<f4", copy=False)
    else:
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
    header = heatmap_header(series)
    header.update(field=field, dtype=array.dtype.name, shape=list(array.shape))
    header_bytes = _dumps(header).encode("utf-8")
    prefix_length = 4 + len(header_bytes)
    padding = b"\0" * (-prefix_length % _ALIGNMENT)
    prefix = b"".join([struct.pack("<I", len(header_bytes)), header_bytes, padding])
    # Flat bytes through numpy: memoryview.cast refuses an array with a 0 in its
    # shape, which a layer whose every record was skipped has.
    return [prefix, memoryview(np.ascontiguousarray(array).reshape(-1).view(np.uint8))]


def heatmap_binary(series, field):
    """The binary body (bytes) of ``GET heatmap?format=binary&field=...``.

    Raises:
      ValueError: ``field`` is not one of :data:`BINARY_FIELDS`.
    """
    return b"".join(heatmap_binary_parts(series, field))


def decode_binary(body):
    """Inverse of :func:`heatmap_binary`: ``(header dict, numpy array)``; for tests and scripts."""
    (length,) = struct.unpack_from("<I", body, 0)
    header = json.loads(body[4 : 4 + length].decode("utf-8"))
    start = 4 + length + (-(4 + length) % _ALIGNMENT)
    array = np.frombuffer(body, dtype=np.dtype(header["dtype"]).newbyteorder("<"), offset=start)
    return header, array.reshape(header["shape"])
