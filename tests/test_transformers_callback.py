"""The transformers Trainer callback: records per epoch equal to numpy sums over the training rows."""

import logging
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from torch import nn  # noqa: E402
from transformers import Trainer, TrainingArguments  # noqa: E402

from tensorboard_plugin_deadrelu.core import sums as sums_lib  # noqa: E402
from tensorboard_plugin_deadrelu.transformers import DeadReluCallback  # noqa: E402
from tests.oracle import assert_record, numpy_sums  # noqa: E402
from tests import eventfiles  # noqa: E402

ROWS, BATCH = 12, 4  # 3 batches per epoch


class TinyModel(nn.Module):
    """A plain module (no hub model): Linear(4, 8) -> ReLU -> Linear(8, 2), returning a dict with the loss."""

    def __init__(self, as_tuple=False, fail_at_batch=None):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        with torch.no_grad():
            self.net[0].bias[0] = -100.0  # unit 0 always dead
        self.as_tuple = as_tuple
        self.fail_at_batch = fail_at_batch
        self.batches = 0

    def forward(self, x, labels=None):
        if self.training:
            self.batches += 1
            if self.fail_at_batch == self.batches:
                raise RuntimeError("boom")
        logits = self.net(x)
        loss = nn.functional.cross_entropy(logits, labels)
        return (loss, logits) if self.as_tuple else {"loss": loss, "logits": logits}


class Rows(torch.utils.data.Dataset):
    def __init__(self, seed, rows, shift=0.0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(rows, 4, generator=g) + shift
        self.y = torch.randint(0, 2, (rows,), generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}


TRAIN = Rows(1, ROWS)
VAL = Rows(2, 8, shift=-3.0)  # a different dead pattern: counting it would change the sums


def expected_sums(model, rows=slice(None)):
    with torch.no_grad():
        return numpy_sums(model.net[1](model.net[0](TRAIN.x[rows])).numpy())


def train(tmp_path, callback, model=None, **kwargs):
    model = model or TinyModel()
    kwargs.setdefault("num_train_epochs", 3)
    args = TrainingArguments(
        str(tmp_path / "out"), report_to=["tensorboard"], learning_rate=0.0, per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=BATCH, logging_steps=1, save_strategy="no", disable_tqdm=True, use_cpu=True,
        dataloader_num_workers=0, **kwargs,
    )
    trainer = Trainer(model=model, args=args, train_dataset=TRAIN, eval_dataset=VAL, callbacks=[callback])
    trainer.train()
    return model, trainer


def scalar_runs(logdir, tag):
    return {run for run, event in eventfiles.read_events(logdir) for v in event.summary.value if v.tag == tag}


def test_one_record_per_epoch_training_rows_only_next_to_train_loss(tmp_path):
    callback = DeadReluCallback()
    model, trainer = train(tmp_path, callback, eval_strategy="epoch")
    logdir = str(tmp_path / "out")
    records = eventfiles.read_records(logdir)
    ((run, tag),) = records
    assert tag == "net.1" and run.startswith("runs" + os.sep)
    assert [s for s, _ in records[(run, tag)]] == [3, 6, 9] and trainer.state.global_step == 9
    for _, record in records[(run, tag)]:
        assert_record(record, expected_sums(model))  # 12 training rows, no evaluation rows
    assert scalar_runs(logdir, "train/loss") == {run}
    assert scalar_runs(logdir, "eval/loss") == {run}
    assert len(model.net[1]._forward_hooks) == 0 and callback.monitor is None


def test_gradient_accumulation_counts_every_micro_batch_once(tmp_path):
    model, trainer = train(tmp_path, DeadReluCallback(), num_train_epochs=2, gradient_accumulation_steps=2)
    (series,) = eventfiles.read_records(str(tmp_path / "out")).values()
    steps_per_epoch = trainer.state.global_step // 2
    assert [s for s, _ in series] == [steps_per_epoch, 2 * steps_per_epoch]
    for _, record in series:
        assert_record(record, expected_sums(model))  # 12 rows per epoch, each once


def test_every_n_steps_and_tuple_output_and_log_dir(tmp_path):
    model = TinyModel(as_tuple=True)
    run = tmp_path / "explicit"
    train(tmp_path, DeadReluCallback(every_n_steps=2, log_dir=run, modules=["net.1"]), model=model,
          num_train_epochs=2)
    records = eventfiles.read_records(str(run))
    (series,) = records.values()
    assert [s for s, _ in series] == [2, 4, 6]
    # The Trainer shuffles the rows: each record holds 2 batches, the three together two epochs.
    assert [record.count for _, record in series] == [2 * BATCH] * 3
    epoch = expected_sums(model)
    np.testing.assert_array_equal(sum(record.zeros for _, record in series), 2 * epoch["zeros"])
    np.testing.assert_allclose(sum(record.abs_sum for _, record in series), 2 * epoch["abs_sum"], rtol=1e-5)


def test_tensorboard_logging_dir_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "tb"))
    train(tmp_path, DeadReluCallback(), num_train_epochs=1)
    records = eventfiles.read_records(str(tmp_path / "tb"))
    assert list(records) == [(".", "net.1")]
    assert scalar_runs(str(tmp_path / "tb"), "train/loss") == {"."}


def test_warn_and_stop_above(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        train(tmp_path / "warn", DeadReluCallback(warn_above=0.05))
    assert sum("warn_above" in r.getMessage() for r in caplog.records) == 1
    _, trainer = train(tmp_path / "stop", DeadReluCallback(stop_above=0.05), num_train_epochs=5)
    assert trainer.state.global_step == 3
    (series,) = eventfiles.read_records(str(tmp_path / "stop" / "out")).values()
    assert [s for s, _ in series] == [3]


def test_bad_arguments():
    with pytest.raises(ValueError, match="every_n_steps"):
        DeadReluCallback(every_n_steps=0)
    with pytest.raises(ValueError, match="warn_above"):
        DeadReluCallback(warn_above=-1)


def test_unknown_module_name_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="nope"):
        train(tmp_path, DeadReluCallback(modules=["nope"]), num_train_epochs=1)


def test_exception_leaves_hooks_until_next_train_which_replaces_them(tmp_path):
    model = TinyModel(fail_at_batch=2)
    callback = DeadReluCallback()
    with pytest.raises(RuntimeError, match="boom"):
        train(tmp_path, callback, model=model, num_train_epochs=1)
    # transformers calls no callback when train() raises: the hooks stay until on_train_begin or close.
    model.fail_at_batch = None
    train(tmp_path, callback, model=model, num_train_epochs=1)
    assert len(model.net[1]._forward_hooks) == 0 and callback.monitor is None


TORCHRUN_SCRIPT = r'''
import json, os, sys
import numpy as np
import torch
from torch import nn
from transformers import Trainer, TrainingArguments
from tensorboard_plugin_deadrelu.transformers import DeadReluCallback

torch.set_num_threads(1)

class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    def forward(self, x, labels=None):
        logits = self.net(x)
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}

class Rows(torch.utils.data.Dataset):
    def __init__(self, seed, rows, shift=0.0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(rows, 4, generator=g) + shift
        self.y = torch.randint(0, 2, (rows,), generator=g)
    def __len__(self):
        return len(self.x)
    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}

out = sys.argv[1]
train = Rows(1, 16)
model = Tiny()
args = TrainingArguments(os.path.join(out, "out"), report_to=["tensorboard"], learning_rate=0.0,
                         per_device_train_batch_size=4, per_device_eval_batch_size=4, num_train_epochs=2,
                         logging_steps=1, save_strategy="no", disable_tqdm=True, use_cpu=True,
                         eval_strategy="epoch", ddp_backend="gloo")
trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=Rows(2, 8, -3.0),
                  callbacks=[DeadReluCallback()])
trainer.train()
if trainer.state.is_world_process_zero:
    with torch.no_grad():
        np.save(os.path.join(out, "hidden.npy"), model.net[1](model.net[0](train.x)).numpy())
    with open(os.path.join(out, "done.json"), "w") as f:
        json.dump({"global_step": trainer.state.global_step, "world_size": args.world_size}, f)
'''


@pytest.mark.slow
def test_torchrun_two_processes_sum_every_rank_and_process_zero_writes(tmp_path):
    import json
    import subprocess
    import sys

    script = tmp_path / "torchrun_script.py"
    script.write_text(TORCHRUN_SCRIPT)
    out = tmp_path / "result"
    out.mkdir()
    import signal
    import socket

    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
               OMP_NUM_THREADS="1")
    with socket.socket() as s:  # a free port: torchrun's static rendezvous does not take port 0
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
         "--master_port=%d" % port, str(script), str(out)],
        env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and its workers
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-3000:]
    done = json.loads((out / "done.json").read_text())
    assert done["world_size"] == 2 and done["global_step"] == 4  # 16 rows / 2 ranks / batch 4, 2 epochs
    records = eventfiles.read_records(str(out / "out"))
    ((run, tag),) = records
    assert tag == "net.1"
    assert [s for s, _ in records[(run, tag)]] == [2, 4]
    expected = numpy_sums(np.load(out / "hidden.npy"))
    for _, record in records[(run, tag)]:
        assert_record(record, expected)  # both ranks' rows, no evaluation rows
    assert scalar_runs(str(out / "out"), "train/loss") == {run}
    files = [f for f in os.listdir(out / "out" / run) if f.endswith(".deadrelu")]
    assert len(files) == 1 and len(os.listdir(out / "out" / "runs")) == 1
