"""DeadReluMonitor and summary.Accumulator under MultiWorkerMirroredStrategy,
with two real worker processes on 127.0.0.1 (tests/distributed_tf_worker.py).

The model has fixed weights (learning rate 0), so the expected sums over the
union of both workers' data are computed here with numpy. One job runs every
scenario (TensorFlow's start-up is the slow part); the tests read what it left
behind through TensorBoard's data provider and its event file reader.
"""

import glob
import json
import os
import sys

import numpy as np
import pytest

from tensorboard.backend.event_processing import event_file_loader

from tensorboard_plugin_deadrelu.core import metadata
from tests import eventfiles
from tests.oracle import assert_record
from tests.distributed_fixtures import (
    FIRES_ON_ONE_ROW,
    PROBE_ROWS,
    ROWS,
    dead_fractions,
    dead_share,
    forward,
    make_inputs,
    tensorboard_records,
)
from tests.distributed_launch import REPO, read_reports, run_job
from tests.tensorboard_process import HOST, free_port

pytestmark = pytest.mark.slow  # starts processes: see tests/conftest.py

pytest.importorskip("tensorflow")

WORKER = os.path.join(REPO, "tests", "distributed_tf_worker.py")
GLOBAL_BATCH = 16  # 7 global batches of the 100 rows, the last one of 4
# The run of each scenario: the monitor writes into <log_dir>/train.
RUNS = {"counting": "counting/train", "probe": "probe/train", "stop": "stop/train", "accumulator": "accumulator"}


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """Runs the two workers once; returns (workdir, inputs, {task id: report})."""
    workdir = str(tmp_path_factory.mktemp("multi_worker"))
    inputs = make_inputs(np.random.default_rng(0))
    np.savez(os.path.join(workdir, "inputs.npz"), **inputs)
    cluster = {"worker": ["%s:%d" % (HOST, free_port()) for _ in range(2)]}
    run_job(
        [
            ([sys.executable, WORKER, workdir], {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
            for i in range(2)
        ],
        timeout=240,
        log_dir=workdir,
    )
    return workdir, inputs, read_reports(workdir, 2)


def rows_of(x, local_x):
    """The indices of the rows of ``x`` that a worker saw as its ``local_x``."""
    return [int(np.flatnonzero((x == np.float32(row)).all(axis=1))[0]) for row in local_x]


def test_one_run_per_scenario_each_step_once_and_only_the_chief_writes_files(job):
    workdir, _, reports = job
    logs = os.path.join(workdir, "logs")
    records = eventfiles.read_records(logs)  # every record in every event file
    assert {run for run, _ in records} == set(RUNS.values())
    for (run, tag), series in records.items():
        expected = {RUNS["stop"]: [0, 1], RUNS["accumulator"]: [1, 2]}.get(run, [0, 1, 2])
        assert [step for step, _ in series] == expected, (run, tag)
    assert set(tensorboard_records(logs)) == set(RUNS.values())
    # The other worker made no file and no folder: not even an empty event file.
    assert sorted(os.listdir(logs)) == sorted(RUNS)
    for scenario in ("counting", "probe", "stop"):
        assert os.listdir(os.path.join(logs, scenario)) == ["train"]
        (event_file,) = os.listdir(os.path.join(logs, RUNS[scenario]))
        assert ".%d." % reports[0]["pid"] in event_file  # the chief's


def test_counting_during_training_holds_the_global_sums(job):
    workdir, inputs, reports = job
    steps_per_epoch = -(-ROWS // GLOBAL_BATCH)
    # Each worker ran every global step, on its share of the global batch.
    assert reports[0]["counting_batches"] == reports[1]["counting_batches"] == 2 * steps_per_epoch
    outputs, _ = forward(inputs, inputs["x"])
    first_batch, _ = forward(inputs, inputs["x"][:GLOBAL_BATCH])
    series = tensorboard_records(os.path.join(workdir, "logs"))[RUNS["counting"]]
    assert set(series) == {"hidden", "relu"}
    for tag, points in series.items():
        assert [step for step, _ in points] == [0, 1, 2]
        assert_record(points[0][1], first_batch[tag])  # step 0: the first global batch, both workers' halves
        for _, record in points[1:]:
            assert_record(record, outputs[tag])  # an epoch: every row once
    # Unit 1 fires on one row, in the other worker's share of the first batch: not dead at step 0.
    assert FIRES_ON_ONE_ROW not in rows_of(inputs["x"], reports[0]["first_batch_local_x"])
    assert FIRES_ON_ONE_ROW in rows_of(inputs["x"], reports[1]["first_batch_local_x"])
    assert series["hidden"][0][1].zeros[1] == GLOBAL_BATCH - 1
    fractions = dead_fractions(os.path.join(workdir, "logs"), RUNS["counting"])
    assert fractions["hidden"] == [(0, pytest.approx(1 / 6)), (1, pytest.approx(1 / 6)), (2, pytest.approx(1 / 6))]
    assert [value for _, value in fractions["relu"]] == pytest.approx(
        [dead_share(first_batch["relu"]), dead_share(outputs["relu"]), dead_share(outputs["relu"])]
    )


def test_a_probe_is_the_same_on_every_worker_and_not_summed(job):
    workdir, inputs, reports = job
    assert reports[0]["probe_batches"] == reports[1]["probe_batches"] > 0
    # Unit 0 of 'hidden' is dead on the probe too: every worker warns, once, before training.
    for report in reports.values():
        assert [m for m in report["probe_warnings"] if "'hidden'" in m] == [
            "DeadReluMonitor: layer 'hidden' has 16.7% dead units (1 of 6) at step 0, more than warn_above=0.1"
        ]
    outputs, gradients = forward(inputs, inputs["probe_x"], inputs["probe_y"])
    series = tensorboard_records(os.path.join(workdir, "logs"))[RUNS["probe"]]
    assert set(series) == {"hidden", "relu", "hidden/gradients", "relu/gradients"}
    for tag in ("hidden", "relu"):
        for points, truth in ((series[tag], outputs[tag]), (series[metadata.gradients_tag(tag)], gradients[tag])):
            assert [step for step, _ in points] == [0, 1, 2]
            for _, record in points:
                assert record.count == PROBE_ROWS  # 64 rows counted once, not once per worker
                assert_record(record, truth)


def test_stop_above_stops_every_worker_at_the_same_batch(job):
    workdir, inputs, reports = job
    # Unit 0 of 'hidden' is dead (1/6 > 0.1) in the first batch's record: both stop after it.
    assert reports[0]["stop_batches"] == reports[1]["stop_batches"] == 1
    for report in reports.values():
        warnings = report["stop_warnings"]
        assert any("'hidden'" in m and "at step 0" in m and "warn_above=0.1" in m for m in warnings), warnings
        assert any("'hidden'" in m and "at step 0" in m and "stop_above=0.1" in m for m in warnings), warnings
    first_batch, _ = forward(inputs, inputs["x"][:GLOBAL_BATCH])
    series = tensorboard_records(os.path.join(workdir, "logs"))[RUNS["stop"]]
    for tag, points in series.items():
        for _, record in points:
            assert_record(record, first_batch[tag])


def test_accumulator_writes_the_global_sums_on_the_chief_only(job):
    workdir, inputs, reports = job
    assert reports[0]["accumulator_written"] == [True, True, True]
    assert reports[1]["accumulator_written"] == [False, False, False]  # it read the sums, wrote nothing
    outputs, _ = forward(inputs, inputs["x"])
    logs = os.path.join(workdir, "logs")
    points = tensorboard_records(logs)[RUNS["accumulator"]]["hidden"]
    assert [step for step, _ in points] == [1, 2]
    for _, record in points:
        assert_record(record, outputs["hidden"])
    # distributed.tf_summary_writer made no file on the other worker.
    (event_file,) = os.listdir(os.path.join(logs, RUNS["accumulator"]))
    assert ".%d." % reports[0]["pid"] in event_file
    # With a file writer of its own on each worker, only the chief's holds the record.
    (((_, chief_record),),) = [s for s in eventfiles.read_records(os.path.join(workdir, "own_writer_0")).values()]
    assert_record(chief_record, outputs["hidden"])
    (other_file,) = glob.glob(os.path.join(workdir, "own_writer_1", "*tfevents*"))
    assert not [event for event in event_file_loader.EventFileLoader(other_file).Load() if event.summary.value]
