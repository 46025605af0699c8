"""The Lightning callback: records per epoch (or every N steps) equal to numpy sums over the training rows."""

import logging
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from tensorboard_plugin_deadrelu.core import sums as sums_lib  # noqa: E402
from tensorboard_plugin_deadrelu.lightning import DeadReluCallback  # noqa: E402
from tests.oracle import assert_record, numpy_sums  # noqa: E402
from tests import eventfiles  # noqa: E402

ROWS, BATCH = 12, 4  # 3 optimizer steps per epoch


class TinyModule(pl.LightningModule):
    """Linear(4, 8) -> ReLU -> Linear(8, 2) with learning rate 0: activations are the same every epoch."""

    def __init__(self, fail_at_batch=None):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        with torch.no_grad():
            self.net[0].bias[0] = -100.0  # unit 0 always dead: dead share 1/8 at least
        self.fail_at_batch = fail_at_batch
        self.batches = 0

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        self.batches += 1
        if self.fail_at_batch is not None and self.batches == self.fail_at_batch:
            raise RuntimeError("boom")
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.cross_entropy(self(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def data(seed, rows=ROWS, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, 4, generator=g) + shift
    y = torch.randint(0, 2, (rows,), generator=g)
    return x, y


TRAIN = data(1)
VAL = data(2, rows=8, shift=-3.0)  # different dead pattern: counting it would change the sums


def loaders():
    return (DataLoader(TensorDataset(*TRAIN), batch_size=BATCH), DataLoader(TensorDataset(*VAL), batch_size=BATCH))


def expected_sums(model, rows):
    with torch.no_grad():
        hidden = model.net[1](model.net[0](TRAIN[0][rows]))
    return numpy_sums(hidden.numpy())


def make_trainer(tmp_path, callback, logger=True, **kwargs):
    if logger is True:
        logger = pl.loggers.TensorBoardLogger(str(tmp_path), name="logs")
    kwargs.setdefault("max_epochs", 3)
    return pl.Trainer(
        accelerator="cpu", devices=1, logger=logger, callbacks=[callback], enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, log_every_n_steps=1, **kwargs,
    )


def hook_count(model):
    return len(model.net[1]._forward_hooks)


def scalar_runs(logdir, tag):
    return {run for run, event in eventfiles.read_events(logdir) for v in event.summary.value if v.tag == tag}


def test_one_record_per_epoch_with_training_rows_only_in_the_logger_run(tmp_path):
    model = TinyModule()
    callback = DeadReluCallback()
    trainer = make_trainer(tmp_path, callback, num_sanity_val_steps=2)
    trainer.fit(model, *loaders())
    records = eventfiles.read_records(str(tmp_path))
    assert list(records) == [("logs/version_0", "net.1")]
    steps = [step for step, _ in records[("logs/version_0", "net.1")]]
    assert steps == [3, 6, 9] and trainer.global_step == 9
    expected = expected_sums(model, slice(None))
    for _, record in records[("logs/version_0", "net.1")]:
        assert_record(record, expected)  # 12 training rows: no sanity-check or validation rows
    assert scalar_runs(str(tmp_path), "train_loss") == {"logs/version_0"}
    assert trainer.logger.log_dir == os.path.join(str(tmp_path), "logs", "version_0")
    assert hook_count(model) == 0 and callback.monitor is None


def test_every_n_steps(tmp_path):
    model = TinyModule()
    trainer = make_trainer(tmp_path, DeadReluCallback(every_n_steps=2), max_epochs=2)
    trainer.fit(model, loaders()[0])
    (series,) = eventfiles.read_records(str(tmp_path)).values()
    assert [step for step, _ in series] == [2, 4, 6]
    for step, record in series:
        assert_record(record, expected_sums(model, np.r_[0:12, 0:12][(step - 2) * BATCH : step * BATCH]))


def test_every_n_steps_with_gradient_accumulation_counts_every_micro_batch(tmp_path):
    model = TinyModule()
    trainer = make_trainer(tmp_path, DeadReluCallback(every_n_steps=1), max_epochs=1, accumulate_grad_batches=3)
    trainer.fit(model, loaders()[0])
    (series,) = eventfiles.read_records(str(tmp_path)).values()
    assert [step for step, _ in series] == [1]
    assert_record(series[0][1], expected_sums(model, slice(None)))


def test_modules_and_log_dir_arguments(tmp_path):
    model = TinyModule()
    run = tmp_path / "explicit"
    trainer = make_trainer(tmp_path, DeadReluCallback(modules=["net.1"], log_dir=run), logger=False, max_epochs=1)
    trainer.fit(model, loaders()[0])
    assert list(eventfiles.read_records(str(tmp_path))) == [("explicit", "net.1")]


def test_no_tensorboard_logger_is_a_clear_error(tmp_path):
    model = TinyModule()
    trainer = make_trainer(tmp_path, DeadReluCallback(), logger=pl.loggers.CSVLogger(str(tmp_path)), max_epochs=1)
    with pytest.raises(ValueError, match="TensorBoardLogger"):
        trainer.fit(model, loaders()[0])
    assert hook_count(model) == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="every_n_steps"):
        DeadReluCallback(every_n_steps=0)
    with pytest.raises(ValueError, match="stop_above"):
        DeadReluCallback(stop_above=2)


def test_hooks_removed_when_fit_raises(tmp_path):
    model = TinyModule(fail_at_batch=5)
    callback = DeadReluCallback()
    trainer = make_trainer(tmp_path, callback)
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(model, loaders()[0])
    assert hook_count(model) == 0 and callback.monitor is None
    assert [s for s, _ in eventfiles.read_records(str(tmp_path))[("logs/version_0", "net.1")]] == [3]


def test_warn_and_stop_above(tmp_path, caplog):
    model = TinyModule()
    with caplog.at_level(logging.WARNING):
        trainer = make_trainer(tmp_path, DeadReluCallback(warn_above=0.05))
        trainer.fit(model, loaders()[0])
    assert sum("warn_above" in r.getMessage() for r in caplog.records) == 1  # once per crossing
    model = TinyModule()
    trainer = make_trainer(tmp_path / "stop", DeadReluCallback(stop_above=0.05), max_epochs=5)
    trainer.fit(model, loaders()[0])
    assert trainer.global_step == 3 and trainer.current_epoch == 1  # stopped after the first record
    (series,) = eventfiles.read_records(str(tmp_path / "stop")).values()
    assert [s for s, _ in series] == [3]


@pytest.mark.parametrize("same_callback", [True, False])
def test_second_fit_resumed_continues_the_steps(tmp_path, same_callback):
    model = TinyModule()
    logger = pl.loggers.TensorBoardLogger(str(tmp_path), name="logs")
    callback = DeadReluCallback()
    trainer = make_trainer(tmp_path, callback, logger=logger, max_epochs=2)
    trainer.fit(model, loaders()[0])
    checkpoint = str(tmp_path / "last.ckpt")
    trainer.save_checkpoint(checkpoint)
    trainer = make_trainer(tmp_path, callback if same_callback else DeadReluCallback(), logger=logger, max_epochs=4)
    trainer.fit(model, loaders()[0], ckpt_path=checkpoint)
    records = eventfiles.read_records(str(tmp_path))
    (series,) = records.values()
    # Two event files (one per fit) in the same second: their names' counters (.9 and .10) may sort
    # either way, so order by step here.
    series = sorted(series, key=lambda item: item[0])
    assert [s for s, _ in series] == [3, 6, 9, 12]
    for _, record in series:
        assert_record(record, expected_sums(model, slice(None)))
    assert hook_count(model) == 0


def test_second_fit_going_back_is_skipped_with_a_warning(tmp_path, caplog):
    model = TinyModule()
    logger = pl.loggers.TensorBoardLogger(str(tmp_path), name="logs")
    callback = DeadReluCallback()
    make_trainer(tmp_path, callback, logger=logger, max_epochs=2).fit(model, loaders()[0])
    with caplog.at_level(logging.WARNING):
        make_trainer(tmp_path, callback, logger=logger, max_epochs=3).fit(model, loaders()[0])
    (series,) = eventfiles.read_records(str(tmp_path)).values()
    assert sorted(s for s, _ in series) == [3, 6, 9]
    assert sum("skipping the record" in r.getMessage() for r in caplog.records) == 2


DDP_SCRIPT = r'''
import os, sys, json
import numpy as np
import torch
import lightning.pytorch as pl
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tensorboard_plugin_deadrelu.lightning import DeadReluCallback

torch.set_num_threads(1)

class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)
        return loss
    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.cross_entropy(self.net(x), y), sync_dist=True)
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)

out = sys.argv[1]
g = torch.Generator().manual_seed(1)
x = torch.randn(16, 4, generator=g); y = torch.randint(0, 2, (16,), generator=g)
xv = torch.randn(8, 4, generator=g) - 3; yv = torch.randint(0, 2, (8,), generator=g)
trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=2,
                     logger=pl.loggers.TensorBoardLogger(out, name="logs"), callbacks=[DeadReluCallback()],
                     enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
model = Tiny()
trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=4), DataLoader(TensorDataset(xv, yv), batch_size=4))
if trainer.is_global_zero:
    with torch.no_grad():
        hidden = model.net[1](model.net[0](x))
    np.save(os.path.join(out, "hidden.npy"), hidden.numpy())
    with open(os.path.join(out, "done.json"), "w") as f:
        json.dump({"global_step": trainer.global_step, "world_size": trainer.world_size}, f)
'''


@pytest.mark.slow
def test_ddp_two_cpu_processes_sum_every_rank_and_rank_zero_writes(tmp_path):
    import json

    script = tmp_path / "ddp_script.py"
    script.write_text(DDP_SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
               OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    env.pop("MASTER_PORT", None)
    proc = subprocess.Popen([sys.executable, str(script), str(out)], env=env, cwd=str(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the script and the rank Lightning launched
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-3000:]
    done = json.loads((out / "done.json").read_text())
    assert done["world_size"] == 2 and done["global_step"] == 4  # 16 rows / 2 ranks / batch 4, 2 epochs
    records = eventfiles.read_records(str(out))
    assert list(records) == [("logs/version_0", "net.1")]
    series = records[("logs/version_0", "net.1")]
    assert [s for s, _ in series] == [2, 4]
    expected = numpy_sums(np.load(out / "hidden.npy"))
    for _, record in series:
        assert record.count == 16  # both ranks' 8 rows, no validation rows
        assert_record(record, expected)
    deadrelu_files = [f for f in os.listdir(out / "logs" / "version_0") if f.endswith(".deadrelu")]
    assert len(deadrelu_files) == 1  # rank 1 created no file
    assert not os.path.exists(out / "logs" / "version_1")
