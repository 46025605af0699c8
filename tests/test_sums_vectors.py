"""Every implementation of the reduction rule against the same golden vectors.

The rule (``core/sums.py``, module docstring) is implemented by numpy
(``core.sums.reduce_np``), TensorFlow (``writing.summary.reduce_activations``,
eagerly and XLA-compiled inside ``tf.function``), ``keras.ops`` (the JAX
counter's ``keras.counting.batch_sums``, run on the JAX and torch backends)
and torch (``torch.sums.LayerSums``, its CPU fast path and its exact path).
Each reduces every case of ``golden/sums_vectors.json`` (written by
``golden/make_sums_vectors.py`` with exact arithmetic): ``count``, ``zeros``
and ``nonfinite`` must be equal, ``abs_sum`` within the rule's tolerance.

Keras picks its backend once per process, so the ``keras.ops`` cases run in
one subprocess per backend: this file run as a script with ``--keras OUT``
(as ``tests/keras_backend_script.py`` is for the monitor) writes their sums,
and the JAX counter's uint32-pair totals past 2**31 and 2**32, as JSON.
"""

import json
import os
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.core import sums as sums_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(REPO, "tests", "golden", "sums_vectors.json")
with open(GOLDEN, encoding="utf-8") as _f:
    CASES = json.load(_f)["cases"]
CASE_IDS = [case["name"] for case in CASES]

DTYPES = {
    "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
    "float32": np.float32,
    "float64": np.float64,
    "int32": np.int32,
}
SPECIAL = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}

# Where the JAX counter's uint32 word pairs start, and the batches it then adds.
PAIR_STARTS = [2**31 - 3, 2**32 - 5, 5 * 2**32 - 1]
PAIR_BATCH_ROWS = [4, 4, 4]


def from_json(values):
    if isinstance(values, list):
        return [from_json(v) for v in values]
    return SPECIAL.get(values, values) if isinstance(values, str) else values


def input_array(case):
    """The case's input as a numpy array of its dtype and shape."""
    wide = np.int64 if case["dtype"] == "int32" else np.float64
    array = np.array(from_json(case["values"]), dtype=wide).reshape(case["shape"])
    return array.astype(DTYPES[case["dtype"]])


def channels_first(case):
    return case["layout"] == "channels_first"


def assert_sums(case, got, float64_sums=True, may_overflow=False):
    """``got`` (a sums dict) equals the case: counts exactly, ``abs_sum`` within tolerance.

    ``float64_sums`` False: the backend has no float64, so integer and float64
    inputs get float32's tolerance. ``may_overflow``: the backend sums float32
    in float32, so a sum past float32's range may be +Inf (as in a record).
    """
    name = case["name"]
    got = sums_lib.as_numpy(got)
    assert got["count"] == case["count"], name
    assert got["zeros"].tolist() == case["zeros"], name
    assert got["nonfinite"].tolist() == case["nonfinite"], name
    expected = np.array(case["abs_sum"], np.float64)
    rtol = case["abs_sum_rtol"]
    if not float64_sums and case["dtype"] in ("int32", "float64"):
        rtol = case["count"] * 2.0**-24
    abs_sum = got["abs_sum"]
    assert abs_sum.shape == expected.shape, name
    if may_overflow and case.get("abs_sum_beyond_float32"):
        beyond = expected > np.finfo(np.float32).max
        assert np.all(np.isposinf(abs_sum[beyond]) | (np.abs(abs_sum[beyond] - expected[beyond]) <= rtol * expected[beyond])), name
        abs_sum, expected = abs_sum[~beyond], expected[~beyond]
    assert np.all(np.abs(abs_sum - expected) <= rtol * expected), (name, abs_sum.tolist(), expected.tolist())


def test_the_vectors_cover_the_rule():
    names = {case["name"] for case in CASES}
    assert len(names) == len(CASES)
    assert {case["dtype"] for case in CASES} >= {"float16", "bfloat16", "float32", "float64", "int32"}
    assert any(case["count"] == 0 and channels_first(case) for case in CASES)
    assert any(case.get("abs_sum_beyond_float32") for case in CASES)
    assert any(case["count"] and case["nonfinite"][0] == case["count"] for case in CASES)  # a unit all NaN


# --------------------------------------------------------------------------
# numpy


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_numpy(case):
    assert_sums(case, sums_lib.reduce_np(input_array(case), channels_first(case)))


# --------------------------------------------------------------------------
# TensorFlow


@pytest.fixture(scope="module")
def tf_reduce():
    tf = pytest.importorskip("tensorflow")
    from tensorboard_plugin_deadrelu.writing import summary

    compiled = {
        first: tf.function(lambda x, first=first: summary.reduce_activations(x, first), autograph=False)
        for first in (False, True)
    }

    def reduce(case, traced):
        x = tf.constant(input_array(case))
        if traced:
            result = compiled[channels_first(case)](x)
        else:
            result = summary.reduce_activations(x, channels_first(case))
        return {name: value.numpy() for name, value in result.items()}

    return reduce


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_tensorflow_eager(tf_reduce, case):
    assert_sums(case, tf_reduce(case, traced=False))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_tensorflow_function_xla(tf_reduce, case):
    assert_sums(case, tf_reduce(case, traced=True))


# --------------------------------------------------------------------------
# torch


def torch_tensor(case):
    torch = pytest.importorskip("torch")
    array = input_array(case)
    if case["dtype"] == "bfloat16":
        return torch.from_numpy(array.astype(np.float32)).to(torch.bfloat16)  # exact
    return torch.from_numpy(array)


@pytest.mark.parametrize("exact", [False, True], ids=["fast_path", "exact_path"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_torch_layer_sums(case, exact):
    import torch

    from tensorboard_plugin_deadrelu.torch.sums import LayerSums, read_all

    layer = LayerSums("layer", units_dim=1 if channels_first(case) else -1)
    with torch.no_grad():
        layer.add(torch_tensor(case), exact=exact)
    assert_sums(case, read_all([layer])["layer"])


def test_torch_sums_twice_a_batch_are_twice_its_sums():
    import torch

    from tensorboard_plugin_deadrelu.torch.sums import LayerSums, read_all

    case = next(c for c in CASES if c["name"] == "nan_and_infinities")
    layer = LayerSums("layer")
    with torch.no_grad():
        layer.add(torch_tensor(case))
        layer.add(torch_tensor(case), exact=True)
    doubled = dict(case, count=2 * case["count"], abs_sum=[2 * s for s in case["abs_sum"]], abs_sum_rtol=2 * case["abs_sum_rtol"])
    doubled.update(zeros=[2 * z for z in case["zeros"]], nonfinite=[2 * n for n in case["nonfinite"]])
    assert_sums(doubled, read_all([layer])["layer"])


def test_more_than_2_to_the_24_values_per_unit_in_one_batch():
    """Past 2**24 values per unit a float32 count is inexact: torch and TensorFlow count in integers."""
    torch = pytest.importorskip("torch")
    tf = pytest.importorskip("tensorflow")
    from tensorboard_plugin_deadrelu.torch.sums import LayerSums, read_all
    from tensorboard_plugin_deadrelu.writing import summary

    rows = 2**24 + 3
    values = np.zeros((rows, 1), np.float32)
    values[:3] = 1.0
    layer = LayerSums("layer")
    with torch.no_grad():
        layer.add(torch.from_numpy(values))
    expected = {"count": rows, "zeros": [2**24], "abs_sum": [3.0], "nonfinite": [0]}
    case = dict(expected, name="2**24 + 3 rows", dtype="float32", abs_sum_rtol=0.0)
    assert_sums(case, read_all([layer])["layer"])
    assert_sums(case, {k: v.numpy() for k, v in summary.reduce_activations(tf.constant(values)).items()})


def test_torch_running_totals_past_2_to_the_31_and_2_to_the_32():
    """``LayerSums`` keeps exact totals past 2**31 and 2**32 values per unit.

    Adding 2**32 real values would take minutes, so one batch is added, the
    totals are scaled to those of ``k`` such batches (``count`` and the sums
    tensor are the layer's plain state; the sums are additive), and real
    batches are then added across the limit through both paths.
    """
    import torch

    from tensorboard_plugin_deadrelu.torch.sums import LayerSums, read_all

    rows = 1000
    batch = np.zeros((rows, 3), np.float32)
    batch[:, 1] = 0.5
    batch[:500, 2] = 2.0
    with_nan = batch.copy()
    with_nan[:7, 1] = np.nan
    for limit in (2**31, 2**32):
        k = limit // rows
        layer = LayerSums("layer")
        with torch.no_grad():
            layer.add(torch.from_numpy(batch))
            layer.count *= k
            layer.sums *= k
            assert layer.count < limit
            layer.add(torch.from_numpy(batch))  # fast path
            layer.add(torch.from_numpy(with_nan))  # exact path (NaN)
        got = read_all([layer])["layer"]
        n = k + 2
        assert got["count"] == n * rows > limit
        assert got["zeros"].tolist() == [n * rows, 0, n * 500]
        assert got["nonfinite"].tolist() == [0, 7, 0]
        assert got["abs_sum"].tolist() == [0.0, (n * rows - 7) * 0.5, n * 1000.0]


# --------------------------------------------------------------------------
# keras.ops on the JAX and torch backends (a subprocess each)


def keras_main(out_path):
    """Writes the ``keras.ops`` sums of every case, and the JAX counter's pair totals, to ``out_path``."""
    import keras

    from tensorboard_plugin_deadrelu.keras.counting import add_to_pair, batch_sums, has_float64, kahan_add, pair_to_int

    backend = keras.backend.backend()
    reduce = batch_sums
    if backend == "jax":
        import jax

        # As in the JAX counter: the sums are traced into the jitted train step.
        reduce = jax.jit(batch_sums, static_argnums=1)
    report = {"backend": backend, "float64": has_float64(), "cases": {}}
    for case in CASES:
        if case["dtype"] == "float64" and not has_float64():
            continue  # no float64 tensor on this backend
        array = input_array(case)
        if case["dtype"] == "bfloat16":
            x = keras.ops.cast(keras.ops.convert_to_tensor(array.astype(np.float32)), "bfloat16")
        else:
            x = keras.ops.convert_to_tensor(array)
        assert keras.backend.standardize_dtype(x.dtype) == case["dtype"], (case["name"], x.dtype)
        rows, zeros, abs_sum, nonfinite = (keras.ops.convert_to_numpy(v) for v in reduce(x, channels_first(case)))
        report["cases"][case["name"]] = {
            "count": int(rows),
            "zeros": zeros.tolist(),
            "abs_sum": abs_sum.astype(np.float64).tolist(),
            "nonfinite": nonfinite.tolist(),
        }
    if backend == "jax":
        # The counter's totals: uint32 [low, high] words, a batch's rows and zeros added per step.
        starts = np.array(PAIR_STARTS, np.int64)
        pair = np.stack([starts & 0xFFFFFFFF, starts >> 32]).astype(np.uint32)
        batch = np.zeros((PAIR_BATCH_ROWS[0], len(PAIR_STARTS)), np.float32)
        add = jax.jit(lambda pair, x: add_to_pair(pair, batch_sums(x, False)[1]))
        totals = []
        for _ in range(3):
            pair = add(pair, batch)
            totals.append(pair_to_int(np.asarray(pair)).tolist())
        report["pair_totals"] = totals
        total = np.array([[2.0**24], [0.0]], np.float32)
        for _ in range(10):
            total = kahan_add(total, batch_sums(np.ones((1, 1), np.float32), False)[2])
        total = np.asarray(total, np.float64)
        report["kahan_total"] = float(total[0, 0] - total[1, 0])
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(report, f)


_keras_reports = {}


def run_keras_report(backend, tmp_path_factory):
    """The report of this file run as a script under ``KERAS_BACKEND=backend`` (once per backend)."""
    if backend not in _keras_reports:
        pytest.importorskip(backend)
        out = tmp_path_factory.mktemp("keras_" + backend) / "report.json"
        env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
        args = [sys.executable, "-m", "tests.test_sums_vectors", "--keras", str(out)]
        result = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-4000:]
        with open(out, encoding="utf-8") as f:
            report = json.load(f)
        assert report["backend"] == backend
        _keras_reports[backend] = report
    return _keras_reports[backend]


@pytest.fixture(scope="module", params=["jax", "torch"])
def keras_report(request, tmp_path_factory):
    return run_keras_report(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def jax_keras_report(tmp_path_factory):
    return run_keras_report("jax", tmp_path_factory)


@pytest.mark.slow
def test_keras_ops(keras_report):
    checked = 0
    for case in CASES:
        got = keras_report["cases"].get(case["name"])
        if got is None:
            assert case["dtype"] == "float64" and not keras_report["float64"]
            continue
        # keras.ops sums float32 in float32, without a float64 second pass.
        assert_sums(case, got, float64_sums=keras_report["float64"], may_overflow=True)
        checked += 1
    assert checked >= len(CASES) - 1


@pytest.mark.slow
def test_jax_counter_pairs_past_2_to_the_31_and_2_to_the_32(jax_keras_report):
    keras_report = jax_keras_report
    expected = [[start + (i + 1) * rows for start, rows in zip(PAIR_STARTS, PAIR_BATCH_ROWS)] for i in range(3)]
    assert keras_report["pair_totals"] == expected
    assert expected[-1][0] > 2**31 and expected[-1][1] > 2**32
    assert keras_report["kahan_total"] == 2**24 + 10


# --------------------------------------------------------------------------
# Totals and records past 2**32


def test_core_add_past_2_to_the_32():
    big = 3 * 2**32 + 11
    total = None
    for _ in range(3):
        total = sums_lib.add(
            total,
            {"count": big, "zeros": [big, big - 1, 0], "abs_sum": [0.0, 1.0, 2.0**40], "nonfinite": [0, 1, 2**31 + 1]},
        )
    assert total["count"] == 3 * big and isinstance(total["count"], int)
    assert total["zeros"].tolist() == [3 * big, 3 * big - 3, 0]
    assert total["nonfinite"].tolist() == [0, 3, 3 * (2**31 + 1)]
    assert total["abs_sum"].tolist() == [0.0, 3.0, 3 * 2.0**40]


def test_record_round_trip_past_2_to_the_32():
    count = 2**33 + 5
    zeros = np.array([count, 2**32 + 1, 0, 2**31], np.int64)
    nonfinite = np.array([0, 2**31 + 3, 7, 0], np.int64)
    abs_sum = np.array([0.0, 1.5, 3.0e9, 2.0**40])
    record = metadata.decode_record(metadata.encode_record(count, zeros, abs_sum, nonfinite))
    assert record.count == count
    assert record.zeros.tolist() == zeros.tolist()
    assert record.nonfinite.tolist() == nonfinite.tolist()
    assert record.abs_sum.tolist() == abs_sum.astype(np.float32).astype(np.float64).tolist()


def test_tensorflow_record_round_trip_past_2_to_the_32():
    tf = pytest.importorskip("tensorflow")
    from tensorboard_plugin_deadrelu.writing import summary

    count = 2**32 + 9
    zeros = np.array([count, 2**31 + 1], np.int64)
    nonfinite = np.array([0, 5], np.int64)
    encoded = summary.encode_stats(tf.constant(count, tf.int64), zeros, np.array([0.0, 2.5]), nonfinite)
    record = metadata.decode_record(encoded.numpy())
    assert (record.count, record.zeros.tolist(), record.nonfinite.tolist()) == (count, zeros.tolist(), [0, 5])


if __name__ == "__main__":
    if sys.argv[1:2] != ["--keras"] or len(sys.argv) != 3:
        sys.exit("usage: python -m tests.test_sums_vectors --keras OUT.json")
    keras_main(sys.argv[2])
