"""The PyTorch DeadReluMonitor under DistributedDataParallel, with two real gloo
ranks on 127.0.0.1 (tests/distributed_torch_worker.py).

The model has fixed weights (learning rate 0), so the expected sums over the
union of both ranks' rows are computed here with numpy. One job runs once; the
tests read what it left behind through TensorBoard's data provider and its
event file reader.
"""

import os
import sys

import numpy as np
import pytest

from tensorboard_plugin_deadrelu.core import metadata
from tests import eventfiles
from tests.oracle import assert_record
from tests.distributed_fixtures import (
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

pytest.importorskip("torch")

WORKER = os.path.join(REPO, "tests", "distributed_torch_worker.py")
RUNS = ("inner", "wrapper")  # the monitor given the inner module, and the one given the DDP wrapper
LAYERS = ("hidden", "relu")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """Runs the two ranks once; returns (workdir, inputs, {rank: report})."""
    workdir = str(tmp_path_factory.mktemp("ddp"))
    inputs = make_inputs(np.random.default_rng(1))
    np.savez(os.path.join(workdir, "inputs.npz"), **inputs)
    rendezvous = {"MASTER_ADDR": HOST, "MASTER_PORT": str(free_port()), "WORLD_SIZE": "2"}
    run_job(
        [([sys.executable, WORKER, workdir], dict(rendezvous, RANK=str(rank))) for rank in range(2)],
        timeout=120,
        log_dir=workdir,
    )
    return workdir, inputs, read_reports(workdir, 2)


def test_rank_0_alone_writes_each_step_once_straight_into_log_dir(job):
    workdir, _, reports = job
    logs = os.path.join(workdir, "logs")
    # Rank 1 created no file and no folder.
    assert sorted(os.listdir(logs)) == list(RUNS)
    for run in RUNS:
        (event_file,) = os.listdir(os.path.join(logs, run))
        assert ".%d." % reports[0]["pid"] in event_file
    records = eventfiles.read_records(logs)  # every record in every event file
    assert set(records) == {(run, tag) for run in RUNS for tag in LAYERS + tuple(map(metadata.gradients_tag, LAYERS))}
    for (run, tag), series in records.items():
        assert [step for step, _ in series] == ([3] if tag.endswith("/gradients") else [1, 2, 3]), (run, tag)


def test_one_all_reduce_per_write_none_per_step_or_probe(job):
    _, _, reports = job
    # Two monitors wrote twice each; DDP's own gradient reduction does not go through all_reduce.
    assert len(reports[0]["all_reduce_calls"]) == len(reports[1]["all_reduce_calls"]) == 4


def test_tags_are_the_inner_module_names_with_or_without_the_wrapper(job):
    _, _, reports = job
    assert reports[0]["tags"] == reports[1]["tags"] == list(LAYERS)  # no "module." prefix


def test_write_holds_the_sums_over_both_ranks(job):
    workdir, inputs, reports = job
    # Each rank trained on its own half of the rows; together, every row once per epoch.
    rows = [sorted(r for batch in reports[rank]["rows"] for r in batch) for rank in range(2)]
    assert len(rows[0]) == len(rows[1]) == ROWS  # 50 rows per epoch, 2 epochs
    assert not set(rows[0]) & set(rows[1])
    outputs, _ = forward(inputs, inputs["x"])
    served = tensorboard_records(os.path.join(workdir, "logs"))
    for run in RUNS:
        for tag in LAYERS:
            for step, record in served[run][tag][:2]:
                assert_record(record, outputs[tag])  # steps 1 and 2: an epoch each, all 100 rows
        fractions = dead_fractions(os.path.join(workdir, "logs"), run)
        assert [value for _, value in fractions["hidden"][:2]] == pytest.approx([dead_share(outputs["hidden"])] * 2)


def test_a_probe_on_every_rank_is_not_summed(job):
    workdir, inputs, _ = job
    outputs, gradients = forward(inputs, inputs["probe_x"], inputs["probe_y"])
    served = tensorboard_records(os.path.join(workdir, "logs"))
    for run in RUNS:
        for tag in LAYERS:
            (step, record), = served[run][tag][2:]
            assert step == 3 and record.count == PROBE_ROWS  # 64 rows, not 64 per rank
            assert_record(record, outputs[tag])
            ((_, gradient_record),) = served[run][metadata.gradients_tag(tag)]
            assert_record(gradient_record, gradients[tag])


def test_every_rank_gets_the_global_dead_shares(job):
    _, inputs, reports = job
    outputs, _ = forward(inputs, inputs["x"])
    assert reports[0]["shares"] == reports[1]["shares"]
    for run in RUNS:
        for shares in reports[0]["shares"][run][:2]:
            assert shares == pytest.approx({tag: dead_share(outputs[tag]) for tag in LAYERS})
