"""event_writer.RecordWriter: records and scalars read back from real event files."""

import subprocess
import sys

import numpy as np
import pytest

from tensorboard.util import tensor_util

from tensorboard_plugin_deadrelu.writing import event_writer
from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.writing import summary
from tests import eventfiles


def _scalars(logdir):
    """``{tag: [(step, value), ...]}`` of every scalar in ``logdir``."""
    scalars = {}
    for _, event in eventfiles.read_events(logdir):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "scalars":
                scalars.setdefault(value.tag, []).append((event.step, float(tensor_util.make_ndarray(value.tensor))))
    return scalars


def test_record_gradient_record_and_dead_fraction_read_back(tmp_path):
    data = np.array([[0.0, 1.5, 0.0], [0.0, -2.0, 3.0]], np.float32)
    sums = summary.reduce_activations_np(data)
    with event_writer.RecordWriter(tmp_path / "run") as writer:
        writer.write_record("block/relu", 4, **sums, order=2, description="d")
        writer.write_record("block/relu", 4, **sums, kind=metadata.KIND_GRADIENTS, order=2)
        assert writer.write_dead_fraction("block/relu", 4, **sums) == (1, 3)
    records = eventfiles.read_records(str(tmp_path))
    (step, record), = records[("run", "block/relu")]
    assert step == 4 and record.count == 2
    np.testing.assert_array_equal(record.zeros, [2, 0, 1])
    np.testing.assert_allclose(record.abs_sum, [0, 3.5, 3])
    assert [s for s, _ in records[("run", "block/relu/gradients")]] == [4]
    contents = eventfiles.plugin_contents(str(tmp_path))
    assert contents["block/relu"].order == 2 and contents["block/relu"].kind == metadata.KIND_ACTIVATIONS
    assert contents["block/relu/gradients"].kind == metadata.KIND_GRADIENTS
    assert _scalars(str(tmp_path)) == {"deadrelu/block/relu/dead_fraction": [(4, pytest.approx(1 / 3))]}


def test_empty_record_has_no_dead_units(tmp_path):
    sums = {"count": 0, "zeros": np.zeros(2, np.int64), "abs_sum": np.zeros(2), "nonfinite": np.zeros(2, np.int64)}
    with event_writer.RecordWriter(tmp_path) as writer:
        assert writer.write_dead_fraction("x", 0, **sums) == (0, 2)


class _Sink:
    """Stands for a user's writer: keeps events, counts flushes."""

    def __init__(self):
        self.events, self.flushes = [], 0

    def add_event(self, event):
        self.events.append(event)

    def flush(self):
        self.flushes += 1


def test_into_an_existing_writer_which_close_only_flushes():
    sink = _Sink()
    writer = event_writer.RecordWriter(writer=sink)
    writer.write_scalar("loss", 0.5, step=7)
    writer.close()
    writer.close()
    assert [(e.step, e.summary.value[0].tag) for e in sink.events] == [(7, "loss")]
    assert sink.flushes == 1
    with pytest.raises(ValueError, match="closed"):
        writer.write_scalar("loss", 0.5, step=8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "exactly one of log_dir and writer"),
        ({"log_dir": "a", "writer": _Sink()}, "exactly one of log_dir and writer"),
        ({"writer": object()}, "writer must be"),
        ({"log_dir": 3}, "log_dir must be a path"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        event_writer.RecordWriter(**kwargs)


@pytest.mark.parametrize("step", [-1, 1.5, True, "3"])
def test_bad_step_is_refused(step):
    writer = event_writer.RecordWriter(writer=_Sink())
    with pytest.raises(ValueError, match="step must be an int >= 0"):
        writer.write_scalar("loss", 1.0, step)


def test_bad_kind_and_inconsistent_sums_are_refused():
    writer = event_writer.RecordWriter(writer=_Sink())
    with pytest.raises(ValueError, match="kind must be one of"):
        writer.write_record("x", 0, 1, [0], [0.0], [0], kind="weights")
    with pytest.raises(ValueError, match="zeros \\+ nonfinite must be between 0 and count"):
        writer.write_record("x", 0, 1, [2], [0.0], [0])


def test_torch_summary_writer_gets_the_records_in_its_own_event_file(tmp_path):
    tensorboard = pytest.importorskip("torch.utils.tensorboard")
    user_writer = tensorboard.SummaryWriter(str(tmp_path))
    user_writer.add_scalar("loss", 1.25, 3)
    writer = event_writer.RecordWriter(writer=user_writer)
    assert writer.log_dir == str(tmp_path)
    writer.write_record("relu", 3, **summary.reduce_activations_np(np.zeros((4, 2))))
    writer.close()
    user_writer.close()
    assert len(list(tmp_path.glob("*tfevents*"))) == 1
    (step, record), = eventfiles.read_records(str(tmp_path))[(".", "relu")]
    assert (step, record.count, list(record.dead)) == (3, 4, [True, True])


def test_local_log_dir_does_not_import_tensorflow(tmp_path):
    script = (
        "import sys, numpy as np\n"
        "from tensorboard_plugin_deadrelu import event_writer, summary\n"
        "with event_writer.RecordWriter(sys.argv[1]) as w:\n"
        "    w.write_record('relu', 1, **summary.reduce_activations_np(np.ones((2, 3))))\n"
        "    w.write_scalar('loss', 1.0, 1)\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=120)
    (path,) = tmp_path.glob("*tfevents*")
    assert path.name.endswith(".deadrelu")
    assert [s for s, _ in eventfiles.read_records(str(tmp_path))[(".", "relu")]] == [1]


def test_two_writers_in_one_second_get_two_files(tmp_path):
    for step in (1, 2):
        with event_writer.RecordWriter(tmp_path) as writer:
            writer.write_scalar("loss", 1.0, step)
    assert len(list(tmp_path.glob("*tfevents*"))) == 2
    assert _scalars(str(tmp_path))["loss"] == [(1, 1.0), (2, 1.0)]


def test_writes_are_visible_after_flush_before_close(tmp_path):
    writer = event_writer.RecordWriter(tmp_path)
    writer.write_scalar("loss", 2.0, 5)
    writer.flush()
    assert _scalars(str(tmp_path)) == {"loss": [(5, 2.0)]}
    writer.close()


def test_event_files_opened_in_the_same_second_sort_in_opening_order(monkeypatch):
    from tensorboard_plugin_deadrelu.writing import event_writer as writer_module

    monkeypatch.setattr(writer_module.time, "time", lambda: 1_700_000_000.0)
    names = [writer_module.new_event_file_name(".deadrelu") for _ in range(12)]
    assert sorted(names) == names
    assert len(set(names)) == 12
