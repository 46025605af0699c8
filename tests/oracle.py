"""The one numpy oracle of the tests: the four sums of a batch, and a record checked against them.

It walks the values with plain numpy in float64 and does not call the package,
so that a test comparing a writer's records with it checks the writer against
an independent statement of the rule in ``tensorboard_plugin_deadrelu/core/sums.py``.
"""

import numpy as np


def numpy_sums(values, channels_first=False):
    """``{count, zeros, abs_sum, nonfinite}`` of ``values`` ``[batch, ..., units]`` (units on axis 1 if ``channels_first``)."""
    values = np.asarray(values)
    if channels_first:
        values = np.moveaxis(values, 1, -1)
    flat = values.reshape(-1, values.shape[-1])
    wide = flat.astype(np.float64)
    finite = np.isfinite(wide)
    return {
        "count": int(flat.shape[0]),
        "zeros": np.count_nonzero(flat == 0, axis=0).astype(np.int64),
        "abs_sum": np.where(finite, np.abs(wide), 0.0).sum(axis=0),
        "nonfinite": np.count_nonzero(~finite, axis=0).astype(np.int64),
    }


def assert_record(record, expected, rtol=1e-4, atol=1e-6):
    """``record`` (a decoded ``metadata.Record``) holds ``expected``: counts exactly, ``abs_sum`` to ``rtol``/``atol``.

    ``expected`` is either the values themselves (``[rows, ..., units]``) or their
    sums as a dict (``nonfinite`` may be left out: then none is expected).
    """
    if not isinstance(expected, dict):
        expected = numpy_sums(expected)
    assert record.count == expected["count"]
    np.testing.assert_array_equal(record.zeros, expected["zeros"])
    np.testing.assert_array_equal(record.nonfinite, expected.get("nonfinite", 0))
    np.testing.assert_allclose(record.abs_sum, expected["abs_sum"], rtol=rtol, atol=atol)
