"""distributed.py in one process: what a non-chief worker's writers do (the
two-process jobs of test_distributed_tf/torch check the rest end to end)."""

import os
import types

import numpy as np
import pytest

from tensorboard_plugin_deadrelu.writing import distributed
from tests import eventfiles


def non_chief_strategy():
    """Stands for a non-chief worker's tf.distribute strategy (only what distributed.py reads)."""
    return types.SimpleNamespace(extended=types.SimpleNamespace(should_save_summary=False))


def test_tf_writers_write_on_the_chief_and_create_nothing_elsewhere(tmp_path):
    tf = pytest.importorskip("tensorflow")
    assert distributed.tf_is_chief()  # no strategy: one process, which writes
    chief, other = tmp_path / "chief", tmp_path / "other"
    for log_dir, strategy in ((chief, None), (other, non_chief_strategy())):
        writer = distributed.tf_summary_writer(str(log_dir), strategy)
        with writer.as_default():
            tf.summary.scalar("loss", 1.0, step=0)
        writer.close()
    assert len(os.listdir(chief)) == 1
    assert not other.exists()


def test_tf_sums_of_plain_variables_are_read_only_when_recorded():
    tf = pytest.importorskip("tensorflow")
    variables = (tf.Variable(1), tf.Variable(2))
    groups, writes_here = distributed.tf_sums_to_write([variables])
    assert writes_here and groups[0] is variables


def test_torch_record_writer_of_another_rank_creates_no_file_and_checks_arguments(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setattr(distributed, "torch_is_chief", lambda: False)
    writer = distributed.torch_record_writer(tmp_path / "run")
    assert writer.log_dir == str(tmp_path / "run")
    stats = {"count": 3, "zeros": np.array([3, 0]), "abs_sum": np.array([0.0, 2.5]), "nonfinite": np.zeros(2, np.int64)}
    writer.write_record("hidden", 1, **stats)
    assert writer.write_dead_fraction("hidden", 1, **stats) == (1, 2)  # the share is still known
    writer.close()
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="log_dir"):
        distributed.torch_record_writer()  # the same mistake raises on every rank


def test_torch_record_writer_without_a_process_group_writes(tmp_path):
    pytest.importorskip("torch")
    writer = distributed.torch_record_writer(tmp_path)
    stats = {"count": 2, "zeros": np.array([2]), "abs_sum": np.array([0.0]), "nonfinite": np.array([0])}
    writer.write_record("hidden", 4, **stats)
    writer.close()
    (((step, record),),) = eventfiles.read_records(str(tmp_path)).values()
    assert step == 4 and record.count == 2


def test_torch_sums_are_left_alone_without_a_process_group():
    torch = pytest.importorskip("torch")
    layer = types.SimpleNamespace(count=5, sums=torch.ones(3, 2, dtype=torch.float64))
    distributed.torch_sum_over_ranks([layer])
    assert layer.count == 5 and layer.sums.sum().item() == 6
