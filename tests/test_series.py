"""series.py over real event files read by TensorBoard's own data provider.

Ground truth comes from the activations themselves (numpy counts of exact
zeros), not from the writer's reduction.
"""

import collections
import glob
import json
import os
import shutil
import sys
import threading

import numpy as np
import pytest

from tensorboard import context as tb_context
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.core import series
from tensorboard_plugin_deadrelu.core import ordering
from tensorboard_plugin_deadrelu.server import reader as reader_lib
from tensorboard_plugin_deadrelu.writing import summary
from tests import eventfiles
from tests.provider_fixtures import CountingProvider, data_provider, dying_activations, record_sums

EID = ""  # the Python data provider's only experiment
CTX = tb_context.RequestContext()


def make_activations(rng, steps, units, batch=12):
    """``[(step, activations)]`` for steps 0..steps-1, unit u exactly zero on every input from step u on."""
    return [(step, dying_activations(rng, step, units, batch)) for step in range(steps)]


def write_activations(run_dir, tag, activations):
    eventfiles.write_records(run_dir, tag, [(step, summary.reduce_activations_np(x)) for step, x in activations])


def write_raw(run_dir, tag, points, content=None):
    """Writes ``(step, tensor_proto)`` points with the plugin's metadata (or ``content``)."""
    meta = metadata.create_summary_metadata()
    if content is not None:
        meta.plugin_data.content = content
    eventfiles.write_summaries(
        run_dir,
        [(step, summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor)])) for step, tensor in points],
    )


def good_tensor(units, count=4, zeros=None):
    zeros = np.zeros(units, np.int64) if zeros is None else zeros
    return tensor_util.make_tensor_proto(metadata.encode_record(count, zeros, np.ones(units), np.zeros(units)))


def test_stacked_arrays_equal_numpy_ground_truth(tmp_path):
    rng = np.random.default_rng(1)
    acts = make_activations(rng, steps=6, units=5)
    write_activations(str(tmp_path / "run"), "dense", acts)
    _, provider = data_provider(str(tmp_path))
    s = reader_lib.SeriesReader(provider, sample_limit=None).series(CTX, EID, "run", "dense")
    np.testing.assert_array_equal(s.steps, [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(s.wall_times, 1_600_000_000.0 + np.arange(6))
    for row, (_, x) in enumerate(acts):
        t = record_sums(x)
        assert s.count[row] == t["count"]
        np.testing.assert_array_equal(s.zeros[row], t["zeros"])
        np.testing.assert_array_equal(s.abs_sum[row], t["abs_sum"])
        np.testing.assert_array_equal(s.nonfinite[row], t["nonfinite"])
    assert s.zeros.dtype == np.uint8  # count 12 fits a byte
    assert s.units == 5 and s.skipped == () and not s.downsampled


def test_nonfinite_values_are_counted_and_not_zeros(tmp_path):
    x = np.array([[0.0, np.nan, 1.0], [np.inf, 0.0, -0.0], [2.0, -np.inf, 0.0]], np.float32)
    write_activations(str(tmp_path / "run"), "dense", [(0, x)])
    _, provider = data_provider(str(tmp_path))
    s = reader_lib.SeriesReader(provider, None).series(CTX, EID, "run", "dense")
    np.testing.assert_array_equal(s.zeros[0], [1, 1, 2])
    np.testing.assert_array_equal(s.nonfinite[0], [1, 2, 0])
    np.testing.assert_array_equal(s.abs_sum[0], [2.0, 0.0, 1.0])


def test_bad_records_are_skipped_with_reasons_and_good_ones_kept(tmp_path):
    run = str(tmp_path / "run")
    garbage = tensor_util.make_tensor_proto(np.array([b"x", b"y", b"z", b"w"], dtype=object))
    points = [
        (0, good_tensor(3)),
        (1, tensor_util.make_tensor_proto(np.array([1.0, 2.0, 3.0, 4.0]))),  # wrong dtype
        (2, tensor_util.make_tensor_proto(np.array([b"a", b"b", b"c"], dtype=object))),  # wrong shape
        (3, garbage),  # fields do not parse
        (4, good_tensor(2)),  # units change
        (5, good_tensor(3, zeros=np.array([4, 0, 4]))),
    ]
    write_raw(run, "dense", points)
    _, provider = data_provider(str(tmp_path))
    s = reader_lib.SeriesReader(provider, None).series(CTX, EID, "run", "dense")
    np.testing.assert_array_equal(s.steps, [0, 5])
    np.testing.assert_array_equal(s.zeros, [[0, 0, 0], [4, 0, 4]])
    reasons = {k.step: k.reason for k in s.skipped}
    assert sorted(reasons) == [1, 2, 3, 4]
    assert "dtype float64" in reasons[1]
    assert "shape (3,)" in reasons[2]
    assert "does not parse" in reasons[3]
    assert reasons[4] == "record has 2 units but the newest record has 3"


def test_unknown_record_version_skips_the_whole_series_and_says_why(tmp_path):
    content = json.dumps({"version": metadata.RECORD_VERSION + 1, "kind": "activations"}).encode()
    write_raw(str(tmp_path / "run"), "future", [(0, good_tensor(3)), (1, good_tensor(3))], content=content)
    _, provider = data_provider(str(tmp_path))
    s = reader_lib.SeriesReader(provider, None).series(CTX, EID, "run", "future")
    assert s.num_steps == 0 and s.units == 0
    assert [k.step for k in s.skipped] == [0, 1]
    assert "record version %d is not supported" % (metadata.RECORD_VERSION + 1) in s.skipped[0].reason
    assert s.steps.tolist() == []


def test_unknown_kind_is_skipped(tmp_path):
    content = json.dumps({"version": metadata.RECORD_VERSION, "kind": "weights"}).encode()
    write_raw(str(tmp_path / "run"), "weights", [(0, good_tensor(3))], content=content)
    _, provider = data_provider(str(tmp_path))
    s = reader_lib.SeriesReader(provider, None).series(CTX, EID, "run", "weights")
    assert "record kind 'weights' is not known" in s.skipped[0].reason


def test_gradient_kind_is_read_like_activations(tmp_path):
    content = json.dumps({"version": metadata.RECORD_VERSION, "kind": "gradients"}).encode()
    write_raw(str(tmp_path / "run"), "dense/gradients", [(0, good_tensor(3)), (1, good_tensor(3))], content=content)
    _, provider = data_provider(str(tmp_path))
    s = reader_lib.SeriesReader(provider, None).series(CTX, EID, "run", "dense/gradients")
    assert s.skipped == ()
    assert s.kind == "gradients"
    assert s.steps.tolist() == [0, 1] and s.units == 3


def test_step_written_twice_keeps_newest_without_calling_it_skipped(tmp_path):
    run = str(tmp_path / "run")
    writer = EventFileWriter(run)
    meta = metadata.create_summary_metadata()
    for step, wall, zeros in [(0, 1.0, [0, 0]), (1, 2.0, [1, 0]), (1, 3.0, [4, 4])]:
        event = event_pb2.Event(step=step, wall_time=wall)
        event.summary.value.add(tag="d", metadata=meta, tensor=good_tensor(2, zeros=np.array(zeros)))
        writer.add_event(event)
    writer.close()
    # purge_orphaned_data would drop the first step 1 when the step repeats; keep it to see the duplicate.
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        tensor_size_guidance={metadata.PLUGIN_NAME: 0}, purge_orphaned_data=False
    )
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    provider = tb_data_provider.MultiplexerDataProvider(multiplexer, str(tmp_path))
    s = reader_lib.SeriesReader(provider, None).series(CTX, EID, "run", "d")
    np.testing.assert_array_equal(s.steps, [0, 1])
    np.testing.assert_array_equal(s.zeros[1], [4, 4])
    assert s.skipped == ()  # replaced, as TensorBoard's fast loader replaces it: not an unreadable record


def test_unknown_run_and_tag_raise_naming_them(tmp_path):
    write_activations(str(tmp_path / "run"), "dense", make_activations(np.random.default_rng(0), 1, 2))
    _, provider = data_provider(str(tmp_path))
    reader = reader_lib.SeriesReader(provider, None)
    with pytest.raises(reader_lib.UnknownSeriesError, match="run 'nope'"):
        reader.series(CTX, EID, "nope", "dense")
    with pytest.raises(reader_lib.UnknownSeriesError, match="tag 'nope'"):
        reader.series(CTX, EID, "run", "nope")


def test_downsampled_when_reservoir_full_and_gaps_uneven(tmp_path):
    acts = make_activations(np.random.default_rng(2), steps=40, units=2, batch=2)
    write_activations(str(tmp_path / "run"), "dense", acts)
    _, provider = data_provider(str(tmp_path), sample_limit=10)
    s = reader_lib.SeriesReader(provider, 10).series(CTX, EID, "run", "dense")
    assert s.num_steps == 10 and s.steps[-1] == 39  # the reservoir keeps the newest
    assert s.downsampled and s.sample_limit == 10


def test_not_downsampled_when_exactly_the_limit_was_written():
    assert not series.looks_downsampled(np.arange(10) * 5, 10)
    assert not series.looks_downsampled(np.arange(9), 10)
    assert series.looks_downsampled([0, 1, 3, 4, 5, 6, 7, 8, 9, 10], 10)
    assert not series.looks_downsampled([0, 1, 3], None)


def test_cache_is_reused_until_new_records_arrive(tmp_path):
    run = str(tmp_path / "run")
    acts = make_activations(np.random.default_rng(3), steps=4, units=3)
    write_activations(run, "dense", acts[:2])
    multiplexer, provider = data_provider(str(tmp_path))
    reader = reader_lib.SeriesReader(provider, None)
    first = reader.series(CTX, EID, "run", "dense")
    assert reader.series(CTX, EID, "run", "dense") is first
    write_activations(run, "dense", acts[2:])  # a second event file, as a resumed run writes
    multiplexer.Reload()
    second = reader.series(CTX, EID, "run", "dense")
    assert second is not first
    np.testing.assert_array_equal(second.steps, [0, 1, 2, 3])
    np.testing.assert_array_equal(second.zeros[3], record_sums(acts[3][1])["zeros"])


def test_truncated_last_record_is_ignored_until_complete(tmp_path):
    acts = make_activations(np.random.default_rng(4), steps=5, units=4)
    staging = tmp_path / "staging"
    write_activations(str(staging / "run"), "dense", acts)
    (path,) = glob.glob(str(staging / "run" / "*tfevents*"))
    complete = open(path, "rb").read()
    live = tmp_path / "live" / "run"
    live.mkdir(parents=True)
    live_path = live / os.path.basename(path)
    live_path.write_bytes(complete[:-7])  # the writer is in the middle of the last record

    multiplexer, provider = data_provider(str(tmp_path / "live"))
    reader = reader_lib.SeriesReader(provider, None)
    s = reader.series(CTX, EID, "run", "dense")
    np.testing.assert_array_equal(s.steps, [0, 1, 2, 3])
    assert s.skipped == ()

    with open(live_path, "ab") as f:
        f.write(complete[-7:])
    multiplexer.Reload()
    s = reader.series(CTX, EID, "run", "dense")
    np.testing.assert_array_equal(s.steps, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(s.zeros[4], record_sums(acts[4][1])["zeros"])


def test_count_dtype_for():
    assert series.count_dtype_for(0) == np.uint8
    assert series.count_dtype_for(255) == np.uint8
    assert series.count_dtype_for(256) == np.uint16
    assert series.count_dtype_for(70_000) == np.uint32
    assert series.count_dtype_for(2**32) == np.uint64


def test_listing_forgets_deleted_runs(tmp_path):
    acts = make_activations(np.random.default_rng(5), steps=2, units=2)
    write_activations(str(tmp_path / "a"), "dense", acts)
    write_activations(str(tmp_path / "b"), "dense", acts)
    multiplexer, provider = data_provider(str(tmp_path))
    reader = reader_lib.SeriesReader(provider, None)
    assert set(reader.listing(CTX, EID)) == {"a", "b"}
    assert set(reader.listing(CTX, EID, runs=["b"])) == {"b"}
    for run in ("a", "b"):
        reader.series(CTX, EID, run, "dense")
    assert len(reader.records) == 2
    shutil.rmtree(tmp_path / "a")
    multiplexer.Reload()  # TensorBoard drops a run whose folder is gone
    assert set(reader.listing(CTX, EID)) == {"b"}
    assert len(reader.records) == 1  # the deleted run's series is no longer held
    with pytest.raises(reader_lib.UnknownSeriesError, match="run 'a'"):
        reader.series(CTX, EID, "a", "dense")


def test_concurrent_requests_read_a_cold_series_once(tmp_path):
    write_activations(str(tmp_path / "run"), "dense", make_activations(np.random.default_rng(6), 200, 64))
    # Switch threads often, so that without the per-series lock every thread would read.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    _, inner = data_provider(str(tmp_path))
    counting = CountingProvider(inner)
    reader = reader_lib.SeriesReader(counting, None)
    threads = 6
    start = threading.Barrier(threads)
    results = [None] * threads

    def request(i):
        start.wait()  # all threads ask for the cold series at the same moment
        results[i] = reader.series(CTX, EID, "run", "dense")

    workers = [threading.Thread(target=request, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    try:
        for t in workers:
            t.join()
    finally:
        sys.setswitchinterval(previous)
    assert len(counting.reads) == 1
    assert all(r is results[0] for r in results)


def test_later_file_wins_drops_the_abandoned_points_at_and_after_a_restart():
    Point = collections.namedtuple("Point", "step name")
    first = [Point(s, "first") for s in range(0, 41)]
    second = [Point(s, "second") for s in range(20, 30)]
    kept = series.later_file_wins(first + second)
    assert [p.step for p in kept] == list(range(30))
    assert {p.name for p in kept[:20]} == {"first"} and {p.name for p in kept[20:]} == {"second"}
    assert [p.step for p in series.later_file_wins([Point(3, ""), Point(5, ""), Point(5, "new")])] == [3, 5]
    assert series.later_file_wins([Point(5, "a"), Point(5, "b")])[0].name == "b"
    assert series.later_file_wins([]) == []


def test_restarted_run_under_the_legacy_loader_serves_what_the_fast_loader_does(tmp_path):
    """A resumed job: the first file reached step 40, the second restarts at 20 and stops at 29.
    TensorBoard's legacy reader keeps both files' points; the series must show 0..29, 20..29 from
    the second file."""
    first = [(s, {"count": 4, "zeros": np.array([s % 5, 0]), "abs_sum": np.ones(2), "nonfinite": np.zeros(2, np.int64)}) for s in range(41)]
    second = [(s, {"count": 4, "zeros": np.array([4, 4]), "abs_sum": np.zeros(2), "nonfinite": np.zeros(2, np.int64)}) for s in range(20, 30)]
    eventfiles.write_records(str(tmp_path / "run"), "dense", first)
    eventfiles.write_records(str(tmp_path / "run"), "dense", second, wall_time_offset=1000)
    _, provider = data_provider(str(tmp_path))
    s = reader_lib.SeriesReader(provider, None).series(CTX, EID, "run", "dense")
    assert s.steps.tolist() == list(range(30)) and s.skipped == ()
    assert s.zeros[:20, 0].tolist() == [step % 5 for step in range(20)]
    assert s.zeros[20:].tolist() == [[4, 4]] * 10


def test_model_order_key_is_natural():
    tags = ["dense_10", "dense_2", "conv", "dense_1"]
    orders = {"conv": 5}
    assert sorted(tags, key=lambda t: ordering.model_order_key(orders.get(t), t)) == ["conv", "dense_1", "dense_2", "dense_10"]
