"""What the native PyTorch DeadReluMonitor costs in a training loop on the CPU.

The model and data of ``bench_keras_monitor.py``: a 784-1024-1024-1024-10
ReLU MLP, 16,384 x 784 synthetic rows, batch 256, SGD. Four copies of the
model with the same weights each run one-epoch training loops in interleaved
rounds (A B C D, D C B A, ...):

* ``plain``            no monitor;
* ``counting``         DeadReluMonitor hooks counting every batch, one
                       ``write(step)`` per epoch (target <= 1.03);
* ``probe``            a monitor with ``count_training=False`` and one
                       1024-row ``probe(x, step)`` per epoch (target <= 1.04);
* ``probe_gradients``  the same probe with targets and ``nn.CrossEntropyLoss``,
                       so each probe also records gradient records.

Then the per-batch cost of the hooks alone (forward passes in training mode
under ``torch.no_grad()``, with and without the monitor) and one probe alone
are timed in CPU seconds against the fastest plain epoch. The fastest round
of each is compared, because whole-epoch times swing on a shared machine;
CPU seconds of this process are printed beside wall time because they swing
less (on a loaded machine also try ``--threads 1``).

Run from the repository root::

    python benchmarks/bench_torch_monitor.py [--rounds 8] [--threads N]
"""

import argparse
import copy
import os
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
try:
    from benchmarks import ab
except ImportError:  # run as a script from benchmarks/
    import ab

from tensorboard_plugin_deadrelu.torch import DeadReluMonitor  # noqa: E402

# The sizes of bench_keras_monitor.py (not imported: it imports Keras and TensorFlow).
ROWS, FEATURES, CLASSES, BATCH = 16384, 784, 10, 256
HIDDEN = (1024, 1024, 1024)
PROBE_ROWS = 1024


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.normal(size=(ROWS, FEATURES)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, CLASSES, size=ROWS))
    return x, y


def make_model(seed=0):
    torch.manual_seed(seed)
    layers, width = [], FEATURES
    for units in HIDDEN:
        layers += [nn.Linear(width, units), nn.ReLU()]
        width = units
    return nn.Sequential(*layers, nn.Linear(width, CLASSES))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument(
        "--threads", type=int, default=None,
        help="torch intra-op threads (default: torch's choice). On a loaded machine, 1 thread "
        "keeps OpenMP barriers from waiting on descheduled threads, which inflates small ops",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x, y = make_data()
    base = make_model()
    models = {name: copy.deepcopy(base) for name in ("plain", "counting", "probe", "probe_gradients")}
    optimizers = {name: torch.optim.SGD(model.parameters(), lr=0.01) for name, model in models.items()}
    logdir = tempfile.mkdtemp(prefix="bench_torch_monitor_")
    monitors = {
        "counting": DeadReluMonitor(models["counting"], os.path.join(logdir, "counting")),
        "probe": DeadReluMonitor(models["probe"], os.path.join(logdir, "probe"), count_training=False),
        "probe_gradients": DeadReluMonitor(
            models["probe_gradients"], os.path.join(logdir, "probe_gradients"), count_training=False
        ),
    }
    steps = {name: 0 for name in models}
    cpu_seconds = {name: [] for name in models}
    loss_fn = nn.CrossEntropyLoss()

    def epoch(name):
        model, optimizer, monitor = models[name], optimizers[name], monitors.get(name)

        def run():
            cpu_start = time.process_time()
            model.train()
            for start in range(0, ROWS, BATCH):
                optimizer.zero_grad()
                loss_fn(model(x[start : start + BATCH]), y[start : start + BATCH]).backward()
                optimizer.step()
            steps[name] += 1
            if name == "counting":
                monitor.write(steps[name])
            elif name == "probe":
                monitor.probe(x[:PROBE_ROWS], steps[name])
            elif name == "probe_gradients":
                monitor.probe(x[:PROBE_ROWS], steps[name], targets=y[:PROBE_ROWS], loss_fn=loss_fn)
            cpu_seconds[name].append(time.process_time() - cpu_start)

        return run

    print("torch %s, %d threads; one epoch, %d x %d, batch %d, MLP %d-%s-%d, wall time:" % (
        torch.__version__, torch.get_num_threads(), ROWS, FEATURES, BATCH, FEATURES,
        "-".join(map(str, HIDDEN)), CLASSES))
    times = ab.compare({name: epoch(name) for name in models}, rounds=args.rounds, warmup=1)
    targets = {"counting": 1.03, "probe": 1.04}
    ab.print_ratios(times, baseline="plain", targets=targets)
    # CPU seconds of this process are less disturbed by neighbours than wall
    # time (not immune: cache traffic, spinning threads); the warm-up is left out.
    print("the same runs, CPU seconds of this process:")
    ab.print_ratios({name: {"min": min(t[1:]), "all": t[1:]} for name, t in cpu_seconds.items()},
                    baseline="plain", targets=targets)

    # The hooks alone: forward passes in training mode without autograd, where
    # the monitor's share of the work is largest.
    def forwards(name):
        def run():
            with torch.no_grad():
                for start in range(0, ROWS, BATCH):
                    models[name](x[start : start + BATCH])
            if name == "counting":
                monitors[name].reset()

        return run

    forward_times = ab.compare(
        {"plain": forwards("plain"), "counting": forwards("counting")}, rounds=max(args.rounds, 5),
        clock=time.process_time,
    )
    per_batch = (forward_times["counting"]["min"] - forward_times["plain"]["min"]) / (ROWS // BATCH)
    print("forward passes only (no autograd), %d batches, CPU seconds of this process:" % (ROWS // BATCH))
    ab.print_ratios(forward_times, baseline="plain")
    print("  hooks: %.0f us per batch for %d layers of %dx%d" % (1e6 * per_batch, len(HIDDEN), BATCH, HIDDEN[0]))

    probe_steps = iter(range(10**6, 2 * 10**6))
    probes = {
        "probe": lambda: monitors["probe"].probe(x[:PROBE_ROWS], next(probe_steps)),
        "probe_gradients": lambda: monitors["probe_gradients"].probe(
            x[:PROBE_ROWS], next(probe_steps), targets=y[:PROBE_ROWS], loss_fn=loss_fn
        ),
    }
    probe_times = ab.compare(probes, rounds=max(args.rounds, 5), warmup=1, clock=time.process_time)
    plain_epoch = min(cpu_seconds["plain"][1:])
    print("one %d-row probe alone (fastest of %d), CPU seconds, against the fastest plain epoch's (%.3f s):"
          % (PROBE_ROWS, len(probe_times["probe"]["all"]), plain_epoch))
    for name, t in probe_times.items():
        print("  %-16s %.4f s = %.2f%% of an epoch" % (name, t["min"], 100 * t["min"] / plain_epoch))
    for monitor in monitors.values():
        monitor.close()


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    start = time.perf_counter()
    main()
    print("(%.0f s)" % (time.perf_counter() - start))
