"""One rank of a PyTorch DistributedDataParallel job (gloo, CPU); run by
tests/test_distributed_torch.py, one process per rank, with MASTER_ADDR,
MASTER_PORT, RANK and WORLD_SIZE set.

Usage: python distributed_torch_worker.py WORKDIR

WORKDIR/inputs.npz holds the weights, the training data and the probe. Every
rank trains the same fixed-weight model (learning rate 0) wrapped in
DistributedDataParallel on its share of the data (a DistributedSampler), with
two monitors on every rank: one given the DDP wrapper (WORKDIR/logs/wrapper),
one given the inner module (WORKDIR/logs/inner). Each writes after every epoch
(steps 1 and 2), then probes (step 3, with targets). Each rank then writes
WORKDIR/report_<rank>.json: the rows it trained on, what write/probe returned
and how many times torch.distributed.all_reduce was called.
"""

import datetime
import json
import os
import sys

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from tensorboard_plugin_deadrelu.torch import DeadReluMonitor

BATCH = 8  # per rank
EPOCHS = 2


def build_model(inputs):
    """Linear(5, 6) -> ReLU 'hidden' -> Linear(6, 4) -> ReLU 'relu' -> Linear(4, 1), with the given weights."""
    model = nn.Sequential()
    model.add_module("linear1", nn.Linear(5, 6))
    model.add_module("hidden", nn.ReLU())
    model.add_module("linear2", nn.Linear(6, 4))
    model.add_module("relu", nn.ReLU())
    model.add_module("out", nn.Linear(4, 1))
    with torch.no_grad():
        for layer, (kernel, bias) in zip((model.linear1, model.linear2, model.out), (("k1", "b1"), ("k2", "b2"), ("k3", "b3"))):
            layer.weight.copy_(torch.from_numpy(inputs[kernel].T))
            layer.bias.copy_(torch.from_numpy(inputs[bias]))
    return model


def count_all_reduce_calls():
    """Counts the ``torch.distributed.all_reduce`` calls from now on in the returned list's length."""
    calls = []
    all_reduce = dist.all_reduce

    def counting(*args, **kwargs):
        calls.append(1)
        return all_reduce(*args, **kwargs)

    dist.all_reduce = counting
    return calls


def main():
    workdir = sys.argv[1]
    # A rendezvous that cannot complete fails within a minute instead of hanging.
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    rank = dist.get_rank()
    inputs = np.load(os.path.join(workdir, "inputs.npz"))
    model = build_model(inputs)
    ddp = DistributedDataParallel(model)
    dataset = TensorDataset(torch.arange(len(inputs["x"])), torch.from_numpy(inputs["x"]), torch.from_numpy(inputs["y"]))
    loader = DataLoader(dataset, batch_size=BATCH, sampler=DistributedSampler(dataset, shuffle=False))
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.0)
    logs = os.path.join(workdir, "logs")
    monitors = {
        "wrapper": DeadReluMonitor(ddp, os.path.join(logs, "wrapper")),
        "inner": DeadReluMonitor(model, os.path.join(logs, "inner")),
    }
    report = {"rank": rank, "pid": os.getpid(), "rows": [], "tags": monitors["wrapper"].tags, "shares": {}}
    report["all_reduce_calls"] = count_all_reduce_calls()
    for epoch in range(EPOCHS):
        for rows, x, y in loader:
            report["rows"].append(rows.tolist())
            optimizer.zero_grad()
            nn.functional.mse_loss(ddp(x), y).backward()
            optimizer.step()
        for name, monitor in monitors.items():
            report["shares"].setdefault(name, []).append(monitor.write(step=epoch + 1))
    probe_x, probe_y = torch.from_numpy(inputs["probe_x"]), torch.from_numpy(inputs["probe_y"])
    for name, monitor in monitors.items():
        report["shares"][name].append(monitor.probe(probe_x, step=EPOCHS + 1, targets=probe_y, loss_fn=nn.MSELoss()))
        monitor.close()
    # DDP still trains after a probe through its wrapper (its reducer was left alone).
    nn.functional.mse_loss(ddp(probe_x), probe_y).backward()
    with open(os.path.join(workdir, "report_%d.json" % rank), "w") as f:
        json.dump(report, f)
    # Both ranks leave together, and without tearing the group down: rank 0
    # hosts the rendezvous store, and tearing down raced with the peer (gloo
    # aborted a process with "terminate called without an active exception",
    # or a rank waited on the store its peer had closed until the test's
    # deadline). Everything this rank writes is closed by now.
    dist.barrier()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
