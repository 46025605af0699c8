"""What DeadReluMonitor costs in ``fit()``, and what its two modes report.

Overhead (default): a 784-1024-1024-1024-10 ReLU MLP on synthetic data
(16,384 x 784), batch 256, CPU, on each Keras backend installed
(TensorFlow, JAX, PyTorch), each in its own process (Keras picks its backend
at import); a table of the ratios side by side closes the output. In each
process four models with the same weights run one-epoch ``fit()`` calls in
interleaved rounds (A B C D, D C B A, ...):

* ``plain``     no callback;
* ``counting``  DeadReluMonitor counting during training (target <= 1.03);
* ``probe``     DeadReluMonitor on a 1024-row probe (target <= 1.04);
* ``probe_gradients``  the same probe with its targets, so every probe also
  records each unit's d(loss)/d(pre-activation) (one backward pass).

Then one probe alone (the monitor's ``_run_probe``) is timed with and without
gradients, interleaved, against the fastest plain epoch.

The fastest round of each is compared, because whole-fit times swing by 2x on
a shared machine.

Modes (``--modes``): trains the same MLP on sparse MNIST-like synthetic data
with a large learning rate, so that units die, and prints per epoch and layer
how many units each mode calls dead: counting during the epoch, a 1024-row
probe, and a probe over the whole training set (the reference: the units
that output 0 on every training input at the epoch's end).

Run from the repository root::

    python benchmarks/bench_keras_monitor.py [--rounds 5] [--backends tensorflow,jax,torch] [--modes]
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

try:
    from benchmarks import ab
except ImportError:  # run as a script from benchmarks/
    import ab

import keras

from tensorboard_plugin_deadrelu.keras import DeadReluMonitor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.eventfiles import read_records  # noqa: E402  (the repository's reader helper)

ROWS, FEATURES, CLASSES, BATCH = 16384, 784, 10, 256
HIDDEN = (1024, 1024, 1024)


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=ROWS)
    return x, y


def make_sparse_data(seed=0):
    """MNIST-like synthetic data: each class a template of sparse "pixels" in
    [0, 1], each sample its template with 30% of the pixels dropped and a
    little sparse noise. Units tuned to rare pixels fire rarely, the case where
    the modes disagree."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, size=ROWS)
    templates = (rng.random((CLASSES, FEATURES)) < 0.15) * rng.uniform(0.3, 1.0, (CLASSES, FEATURES))
    keep = rng.random((ROWS, FEATURES)) < 0.7
    noise = (rng.random((ROWS, FEATURES)) < 0.02) * rng.uniform(0, 1, (ROWS, FEATURES))
    x = np.clip(templates[y] * keep + noise, 0, 1).astype(np.float32)
    return x, y


def make_model(learning_rate, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((FEATURES,))]
        + [keras.layers.Dense(units, activation="relu", name="dense_%d" % i) for i, units in enumerate(HIDDEN)]
        + [keras.layers.Dense(CLASSES, name="logits")]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def overhead(rounds, logdir):
    x, y = make_data()
    models = {name: make_model(0.01) for name in ("plain", "counting", "probe", "probe_gradients")}
    callbacks = {
        "plain": [],
        "counting": [DeadReluMonitor(os.path.join(logdir, "counting"))],
        "probe": [DeadReluMonitor(os.path.join(logdir, "probe"), probe_data=x[:1024])],
        "probe_gradients": [
            DeadReluMonitor(os.path.join(logdir, "probe_gradients"), probe_data=(x[:1024], y[:1024]))
        ],
    }

    cpu_seconds = {name: [] for name in models}

    def fit(name):
        def run():
            start = time.process_time()
            models[name].fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=callbacks[name])
            cpu_seconds[name].append(time.process_time() - start)

        return run

    times = ab.compare({name: fit(name) for name in models}, rounds=rounds, warmup=1)
    print("fit() of one epoch, %d x %d, batch %d, MLP %d-%s-%d, wall time:" % (
        ROWS, FEATURES, BATCH, FEATURES, "-".join(map(str, HIDDEN)), CLASSES))
    print("Keras backend: %s" % keras.backend.backend())
    targets = TARGETS
    ab.print_ratios(times, baseline="plain", targets=targets)
    # CPU seconds of this process are less disturbed by the neighbours than
    # wall time (though not immune: their cache traffic and our threads'
    # spinning count too); the warm-up round is left out.
    print("the same runs, CPU seconds of this process:")
    cpu = {name: {"min": min(t[1:]), "all": t[1:]} for name, t in cpu_seconds.items()}
    ab.print_ratios(cpu, baseline="plain", targets=targets)

    probes = {
        "probe": callbacks["probe"][0]._run_probe,
        "probe_gradients": callbacks["probe_gradients"][0]._run_probe,
    }
    probe_times = ab.compare(probes, rounds=max(rounds, 5), warmup=1)
    epoch = times["plain"]["min"]
    print("one 1024-row probe alone (fastest of %d), against the fastest plain epoch (%.3f s):"
          % (len(probe_times["probe"]["all"]), epoch))
    for name, t in probe_times.items():
        print("  %-16s %.3f s = %.1f%% of an epoch" % (name, t["min"], 100 * t["min"] / epoch))
    print("  gradients / activations only: %.2fx" % (
        probe_times["probe_gradients"]["min"] / probe_times["probe"]["min"]))
    return {
        "wall": {name: times[name]["min"] / times["plain"]["min"] for name in models},
        "cpu": {name: cpu[name]["min"] / cpu["plain"]["min"] for name in models},
        "epoch": epoch,
    }


def dead_units(logdir, run):
    """{(layer, step): number of dead units} of one run."""
    return {
        (tag, step): int(record.dead.sum())
        for (r, tag), series in read_records(logdir).items()
        if r == os.path.join(run, "train")  # the monitor writes into <log_dir>/train
        for step, record in series
    }


def modes(epochs, learning_rate, logdir):
    x, y = make_sparse_data()
    model = make_model(learning_rate)
    model.fit(
        x, y, batch_size=BATCH, epochs=epochs, verbose=0,
        callbacks=[
            DeadReluMonitor(os.path.join(logdir, "counting")),
            DeadReluMonitor(os.path.join(logdir, "probe_1024"), probe_data=x),
            DeadReluMonitor(os.path.join(logdir, "whole_set"), probe_data=x, probe_size=ROWS),
        ],
    )
    counting, probe, whole = (dead_units(logdir, run) for run in ("counting", "probe_1024", "whole_set"))
    print("Dead units per layer (sparse MNIST-like data, SGD lr=%g, %d epochs): "
          "whole training set | 1024-row probe | counting during the epoch" % (learning_rate, epochs))
    totals = {"whole": 0, "probe": 0, "counting": 0}
    for layer, step in sorted(whole, key=lambda k: (k[1], k[0])):
        if step == 0:
            continue  # counting's step-0 record is one batch, not comparable
        w, p, c = whole[(layer, step)], probe[(layer, step)], counting.get((layer, step))
        totals["whole"] += w
        totals["probe"] += p
        totals["counting"] += c
        print("  step %5d %-8s %5d | %5d | %5d" % (step, layer, w, p, c))
    print("  totals over epochs and layers: whole %(whole)d, probe %(probe)d, counting %(counting)d" % totals)
    if totals["whole"]:
        print("  probe / whole = %.2f, counting / whole = %.2f" % (
            totals["probe"] / totals["whole"], totals["counting"] / totals["whole"]))


RESULT_PREFIX = "RESULT "
TARGETS = {"counting": 1.03, "probe": 1.04}


def each_backend(backends, rounds):
    """Runs the overhead benchmark in one process per backend; prints their ratios side by side."""
    results = {}
    for backend in backends:
        print("=== KERAS_BACKEND=%s" % backend, flush=True)
        env = dict(os.environ, KERAS_BACKEND=backend)
        child = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--rounds", str(rounds), "--one-backend"],
            env=env, stdout=subprocess.PIPE, text=True,
        )
        for line in child.stdout.splitlines():
            if line.startswith(RESULT_PREFIX):
                results[backend] = json.loads(line[len(RESULT_PREFIX):])
            else:
                print(line)
        if child.returncode:
            print("  (failed with exit code %d)" % child.returncode)
    print("\nfit() with the monitor / without, fastest of %d rounds (wall | CPU seconds):" % rounds)
    print("  %-11s %-8s %-17s %-17s %-17s" % ("backend", "epoch", "counting", "probe", "probe+gradients"))
    for backend, result in results.items():
        cells = [
            "%.3f | %.3f%s" % (
                result["wall"][name], result["cpu"][name],
                " *" if name in TARGETS and result["wall"][name] > TARGETS[name] else "",
            )
            for name in ("counting", "probe", "probe_gradients")
        ]
        print("  %-11s %-8s %-17s %-17s %-17s" % ((backend, "%.2f s" % result["epoch"]) + tuple(cells)))
    print("  targets: counting <= %(counting)g, probe <= %(probe)g (* = wall ratio above its target)" % TARGETS)


def installed_backends():
    return [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b) is not None]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8, help="measured rounds per variant")
    parser.add_argument("--backends", default=None,
                        help="comma-separated Keras backends to measure (default: every one installed)")
    parser.add_argument("--one-backend", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--modes", action="store_true", help="compare what the modes call dead instead")
    parser.add_argument("--epochs", type=int, default=5, help="epochs for --modes")
    parser.add_argument("--learning-rate", type=float, default=0.5, help="SGD learning rate for --modes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as logdir:
        if args.modes:
            modes(args.epochs, args.learning_rate, logdir)
        elif args.one_backend:
            print(RESULT_PREFIX + json.dumps(overhead(args.rounds, logdir)))
        else:
            each_backend(args.backends.split(",") if args.backends else installed_backends(), args.rounds)


if __name__ == "__main__":
    main()
