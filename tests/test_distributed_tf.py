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

from tensorboard import context as tb_context
from tensorboard.backend.event_processing import event_file_loader

from tensorboard_plugin_deadrelu import metadata
from tests import eventfiles
from tests.distributed_launch import REPO, run_job
from tests.provider_fixtures import data_provider, record_sums
from tests.tensorboard_process import HOST, free_port

pytest.importorskip("tensorflow")

WORKER = os.path.join(REPO, "tests", "distributed_tf_worker.py")
ROWS, GLOBAL_BATCH, PROBE_ROWS = 100, 16, 64  # 7 global batches, the last one of 4 rows
FIRES_ON_ONE_ROW = 12  # hidden unit 1 fires on this row only: in the first global batch, not the chief's half
CTX = tb_context.RequestContext()


def make_inputs(rng):
    """Weights, data and probe: hidden unit 0 is dead on every input, unit 1 fires on one row only."""
    x = rng.normal(size=(ROWS, 5)).astype(np.float32)
    k1 = rng.normal(size=(5, 6)).astype(np.float32)
    b1 = rng.normal(scale=0.1, size=6).astype(np.float32)
    b1[0] = -100.0
    z = x @ k1[:, 1]
    top, second = np.sort(z)[-2:][::-1]
    b1[1] = -(top + second) / 2
    rare = int(np.argmax(z))
    x[[rare, FIRES_ON_ONE_ROW]] = x[[FIRES_ON_ONE_ROW, rare]]
    return {
        "x": x,
        "y": rng.normal(size=(ROWS, 1)).astype(np.float32),
        "k1": k1,
        "b1": b1,
        "k2": rng.normal(size=(6, 4)).astype(np.float32),
        "b2": rng.normal(scale=0.1, size=4).astype(np.float32),
        "k3": rng.normal(size=(4, 1)).astype(np.float32),
        "b3": np.zeros(1, np.float32),
        "probe_x": rng.normal(size=(PROBE_ROWS, 5)).astype(np.float32),
        "probe_y": rng.normal(size=(PROBE_ROWS, 1)).astype(np.float32),
    }


def forward(inputs, x, y=None):
    """Per monitored layer, its outputs on ``x`` and (with ``y``) the gradients of the summed mse
    with respect to its pre-activation, by hand."""
    z1 = x @ inputs["k1"] + inputs["b1"]
    hidden = np.maximum(z1, 0)
    z2 = hidden @ inputs["k2"] + inputs["b2"]
    relu = np.maximum(z2, 0)
    outputs = {"hidden": hidden, "relu": relu}
    if y is None:
        return outputs, None
    d_out = 2 * (relu @ inputs["k3"] + inputs["b3"] - y)
    d_z2 = (d_out @ inputs["k3"].T) * (z2 > 0)
    d_z1 = (d_z2 @ inputs["k2"].T) * (z1 > 0)
    return outputs, {"hidden": d_z1, "relu": d_z2}


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
    reports = {}
    for i in range(2):
        with open(os.path.join(workdir, "report_%d.json" % i)) as f:
            reports[i] = json.load(f)
    return workdir, inputs, reports


def tensorboard_records(logdir):
    """``{run: {tag: [(step, Record)]}}`` as TensorBoard's data provider serves the Dead ReLU series."""
    _, provider = data_provider(logdir)
    tensors = provider.read_tensors(CTX, experiment_id="", plugin_name=metadata.PLUGIN_NAME, downsample=1000)
    return {
        run: {tag: [(d.step, metadata.decode_record(d.numpy)) for d in data] for tag, data in tags.items()}
        for run, tags in tensors.items()
    }


def dead_fractions(logdir, run):
    """``{layer: [(step, value)]}`` of the run's dead_fraction scalars, as TensorBoard serves them."""
    _, provider = data_provider(logdir)
    scalars = provider.read_scalars(CTX, experiment_id="", plugin_name="scalars", downsample=1000)[run]
    return {tag.split("/")[1]: [(d.step, d.value) for d in data] for tag, data in scalars.items()}


def assert_record(record, values):
    expected = record_sums(values)
    assert record.count == expected["count"]
    np.testing.assert_array_equal(record.zeros, expected["zeros"])
    np.testing.assert_allclose(record.abs_sum, expected["abs_sum"], rtol=1e-4)
    np.testing.assert_array_equal(record.nonfinite, 0)


def rows_of(x, local_x):
    """The indices of the rows of ``x`` that a worker saw as its ``local_x``."""
    return [int(np.flatnonzero((x == np.float32(row)).all(axis=1))[0]) for row in local_x]


def dead_share(values):
    return np.count_nonzero((values == 0).all(axis=0)) / values.shape[1]


def test_one_run_per_scenario_each_step_once_and_only_the_chief_writes_files(job):
    workdir, _, reports = job
    logs = os.path.join(workdir, "logs")
    records = eventfiles.read_records(logs)  # every record in every event file
    assert {run for run, _ in records} == {"counting", "probe", "stop", "accumulator"}
    steps = {key: [step for step, _ in series] for key, series in records.items()}
    for (run, tag), run_steps in steps.items():
        expected = {"stop": [0, 1], "accumulator": [1, 2]}.get(run, [0, 1, 2])
        assert run_steps == expected, (run, tag)
    assert set(tensorboard_records(logs)) == {"counting", "probe", "stop", "accumulator"}
    # The other worker made no file and no folder: not even an empty event file.
    assert sorted(os.listdir(logs)) == ["accumulator", "counting", "probe", "stop"]
    for run in ("counting", "probe", "stop"):
        (event_file,) = os.listdir(os.path.join(logs, run))
        assert ".%d." % reports[0]["pid"] in event_file  # the chief's


def test_counting_during_training_holds_the_global_sums(job):
    workdir, inputs, reports = job
    steps_per_epoch = -(-ROWS // GLOBAL_BATCH)
    # Each worker ran every global step, on its share of the global batch.
    assert reports[0]["counting_batches"] == reports[1]["counting_batches"] == 2 * steps_per_epoch
    outputs, _ = forward(inputs, inputs["x"])
    first_batch, _ = forward(inputs, inputs["x"][:GLOBAL_BATCH])
    series = tensorboard_records(os.path.join(workdir, "logs"))["counting"]
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
    fractions = dead_fractions(os.path.join(workdir, "logs"), "counting")
    assert fractions["hidden"] == [(0, pytest.approx(1 / 6)), (1, pytest.approx(1 / 6)), (2, pytest.approx(1 / 6))]
    assert [value for _, value in fractions["relu"]] == pytest.approx(
        [dead_share(first_batch["relu"]), dead_share(outputs["relu"]), dead_share(outputs["relu"])]
    )


def test_a_probe_is_the_same_on_every_worker_and_not_summed(job):
    workdir, inputs, reports = job
    assert reports[0]["probe_batches"] == reports[1]["probe_batches"] > 0
    outputs, gradients = forward(inputs, inputs["probe_x"], inputs["probe_y"])
    series = tensorboard_records(os.path.join(workdir, "logs"))["probe"]
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
        assert any("'hidden'" in m and "warn_above=0.1" in m for m in report["warnings"]), report["warnings"]
        assert any("'hidden'" in m and "stop_above=0.1" in m for m in report["warnings"]), report["warnings"]
    first_batch, _ = forward(inputs, inputs["x"][:GLOBAL_BATCH])
    series = tensorboard_records(os.path.join(workdir, "logs"))["stop"]
    for tag, points in series.items():
        for _, record in points:
            assert_record(record, first_batch[tag])


def test_accumulator_writes_the_global_sums_on_the_chief_only(job):
    workdir, inputs, reports = job
    assert reports[0]["accumulator_written"] == [True, True]
    assert reports[1]["accumulator_written"] == [False, False]  # it read the sums, wrote nothing
    outputs, _ = forward(inputs, inputs["x"])
    logs = os.path.join(workdir, "logs")
    points = tensorboard_records(logs)["accumulator"]["hidden"]
    assert [step for step, _ in points] == [1, 2]
    for _, record in points:
        assert_record(record, outputs["hidden"])
    # The other worker's own writer made an event file there, without a record in it.
    (other_file,) = glob.glob(os.path.join(logs, "accumulator", "*.%d.*" % reports[1]["pid"]))
    assert not [event for event in event_file_loader.EventFileLoader(other_file).Load() if event.summary.value]
