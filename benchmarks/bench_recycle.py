"""What one recycling (ReDo, ``DeadReluMonitor.recycle``) costs next to one training epoch, on the CPU.

The model of ``bench_torch_monitor.py``: a 784-1024-1024-1024-10 ReLU MLP,
Adam; 60,000 x 784 synthetic rows, batch 256. A share of each hidden layer's
units (``--dead``, default 0.25) is made dead (bias -100), so every recycling
finds units to reset: every time it draws three fresh 1024-wide weight
matrices (of which it copies the dead rows), zeros their outgoing columns
and clears Adam's moments of those entries, and writes the ``/recycled``
records.

Printed: the fastest of ``--rounds`` one-epoch training loops (with the
monitor counting, and one ``write`` per epoch), the fastest of ``--rounds``
``write`` + ``recycle`` pairs, and their ratio, in wall and CPU seconds of
this process (CPU seconds swing less on a shared machine).

Run from the repository root::

    python benchmarks/bench_recycle.py [--rounds 5] [--threads N]

Smoke test with tiny sizes: ``--rows 512 --width 32 --rounds 1``.
"""

import argparse
import os
import sys
import tempfile
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tensorboard_plugin_deadrelu.torch import DeadReluMonitor  # noqa: E402


def make_model(width, dead_share):
    torch.manual_seed(0)
    layers, features = [], 784
    for _ in range(3):
        layers += [nn.Linear(features, width), nn.ReLU()]
        features = width
    model = nn.Sequential(*layers, nn.Linear(features, 10))
    with torch.no_grad():
        for linear in model[0:6:2]:
            linear.bias[: int(width * dead_share)] = -100.0
    return model


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--dead", type=float, default=0.25, help="share of each hidden layer's units made dead")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(args.rows, 784, generator=g)
    y = torch.randint(0, 10, (args.rows,), generator=g)
    model = make_model(args.width, args.dead)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()

    def epoch():
        for start in range(0, args.rows, args.batch):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x[start : start + args.batch]), y[start : start + args.batch]).backward()
            optimizer.step()

    with tempfile.TemporaryDirectory() as logdir, DeadReluMonitor(model, logdir) as monitor:
        epoch()  # warm-up: Adam's state exists from here on
        monitor.write(0)
        monitor.recycle(optimizer)
        epochs, recycles = [], []
        step = 0
        for _ in range(args.rounds):
            epochs.append(timed(epoch))
            step += 1
            monitor.write(step)
            with torch.no_grad():  # dead again, so the next recycling has units to reset
                for linear in model[0:6:2]:
                    linear.bias[: int(args.width * args.dead)] = -100.0
            model(x[: args.batch])
            step += 1
            recycled = {}

            def write_and_recycle():
                monitor.write(step)
                recycled.update(monitor.recycle(optimizer))

            recycles.append(timed(write_and_recycle))
            assert all(len(units) >= int(args.width * args.dead) for units in recycled.values()), recycled
    epoch_wall, epoch_cpu = min(w for w, _ in epochs), min(c for _, c in epochs)
    recycle_wall, recycle_cpu = min(w for w, _ in recycles), min(c for _, c in recycles)
    print("model 784-%dx3-10, Adam, %d rows, batch %d, %.0f%% of hidden units dead, %d rounds, %d threads"
          % (args.width, args.rows, args.batch, 100 * args.dead, args.rounds, torch.get_num_threads()))
    print("one epoch              %8.4f s wall  %8.4f s CPU" % (epoch_wall, epoch_cpu))
    print("write + recycle        %8.4f s wall  %8.4f s CPU" % (recycle_wall, recycle_cpu))
    print("recycle / epoch        %8.4f wall    %8.4f CPU" % (recycle_wall / epoch_wall, recycle_cpu / max(epoch_cpu, 1e-9)))


if __name__ == "__main__":
    main()
