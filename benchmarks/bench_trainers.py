"""What the Lightning and Hugging Face callbacks cost in a trainer's ``fit``/``train``.

The model and data of ``bench_keras_monitor.py`` in PyTorch: a
784-1024-1024-1024-10 ReLU MLP, 16,384 x 784 synthetic rows, batch 256, SGD,
one epoch per run. Each trainer runs with and without ``DeadReluCallback``,
interleaved in rounds in one process, models starting from the same weights,
both with the trainer's own TensorBoard logging on; the fastest round of each
is compared (target <= 1.03):

* ``lightning`` / ``lightning+deadrelu``: ``lightning.pytorch.Trainer`` with a
  ``TensorBoardLogger``;
* ``hf`` / ``hf+deadrelu``: ``transformers.Trainer`` with
  ``report_to=["tensorboard"]``.

Run from the repository root::

    python benchmarks/bench_trainers.py [--rounds 4] [--trainers lightning,hf]
"""

import argparse
import copy
import logging
import os
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
try:
    from benchmarks import ab
except ImportError:  # run as a script from benchmarks/
    import ab

ROWS, FEATURES, CLASSES, BATCH = 16384, 784, 10, 256
HIDDEN = (1024, 1024, 1024)


def mlp():
    layers, width = [], FEATURES
    for units in HIDDEN:
        layers += [nn.Linear(width, units), nn.ReLU()]
        width = units
    return nn.Sequential(*layers, nn.Linear(width, CLASSES))


def data():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((ROWS, FEATURES), np.float32))
    y = torch.from_numpy(rng.integers(0, CLASSES, ROWS))
    return x, y


def lightning_variants(net, x, y, logdir):
    import lightning.pytorch as pl

    from tensorboard_plugin_deadrelu.lightning import DeadReluCallback

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = copy.deepcopy(net)

        def training_step(self, batch, batch_idx):
            xb, yb = batch
            loss = nn.functional.cross_entropy(self.net(xb), yb)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=BATCH)

    def run(callbacks):
        def fit():
            trainer = pl.Trainer(
                max_epochs=1, accelerator="cpu", devices=1, callbacks=callbacks(),
                logger=pl.loggers.TensorBoardLogger(logdir), enable_progress_bar=False,
                enable_model_summary=False, enable_checkpointing=False, log_every_n_steps=50,
            )
            trainer.fit(Module(), loader)

        return fit

    return {"lightning": run(lambda: []), "lightning+deadrelu": run(lambda: [DeadReluCallback()])}


def hf_variants(net, x, y, logdir):
    from transformers import Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    from tensorboard_plugin_deadrelu.transformers import DeadReluCallback

    hf_logging.set_verbosity_error()

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = copy.deepcopy(net)

        def forward(self, x, labels=None):
            logits = self.net(x)
            return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return ROWS

        def __getitem__(self, i):
            return {"x": x[i], "labels": y[i]}

    def run(callbacks):
        def train():
            args = TrainingArguments(
                logdir, report_to=["tensorboard"], num_train_epochs=1, per_device_train_batch_size=BATCH,
                learning_rate=0.01, optim="sgd", logging_steps=50, save_strategy="no", disable_tqdm=True,
                use_cpu=True, dataloader_num_workers=0,
            )
            Trainer(model=Model(), args=args, train_dataset=Rows(), callbacks=callbacks()).train()

        return train

    return {"hf": run(lambda: []), "hf+deadrelu": run(lambda: [DeadReluCallback()])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--trainers", default="lightning,hf")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    torch.manual_seed(0)
    net, (x, y) = mlp(), data()
    print("torch %s, %d threads; %d rows, batch %d, %s hidden, one epoch per run" % (
        torch.__version__, torch.get_num_threads(), ROWS, BATCH, HIDDEN))
    makers = {"lightning": lightning_variants, "hf": hf_variants}
    for name in args.trainers.split(","):
        variants = makers[name](net, x, y, tempfile.mkdtemp(prefix="bench_%s_" % name))
        baseline, with_callback = list(variants)
        for clock_name, clock in (("wall", time.perf_counter), ("CPU", time.process_time)):
            times = ab.compare(variants, rounds=args.rounds, clock=clock)
            print("-- %s, %s seconds per epoch" % (name, clock_name))
            ab.print_ratios(times, baseline, targets={with_callback: 1.03})


if __name__ == "__main__":
    main()
