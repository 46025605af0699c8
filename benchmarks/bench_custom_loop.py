"""Overhead of recording Dead ReLU statistics in a custom TensorFlow training loop.

Model: a 784-1024-1024-1024-10 ReLU MLP trained with plain SGD on synthetic
data (16,384 x 784, batch 256, CPU). Every variant runs the same
``tf.function`` train step whose forward pass also returns the three hidden
activations, so only the recording differs:

* ``plain``        no recording;
* ``accumulator``  ``Accumulator.update`` for the 3 layers on every step, one
                   ``Accumulator.write`` per epoch (target <= 1.03 x plain);
* ``activations``  ``summary.activations`` for the 3 layers on every step
                   (target <= 1.05 x plain).

The machine is shared and noisy, so the measured unit is short: a chunk of
8 steps (1/8 epoch, ending with one host sync, the same in every variant).
Variants alternate chunk by chunk (see ab.py) for many rounds and the fastest
chunk of each is kept. The accumulator's once-per-epoch ``write`` is timed as
its own variant and added to 8 chunks to give the per-epoch ratio. Everything
is measured twice: wall-clock time, and CPU time of this process (all
threads), which the other processes on a loaded machine disturb less.

Run: python benchmarks/bench_custom_loop.py [--rounds N]
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ab  # noqa: E402

from tensorboard_plugin_deadrelu.writing import summary  # noqa: E402

SIZES = (784, 1024, 1024, 1024, 10)
EXAMPLES = 16384
BATCH = 256
LEARNING_RATE = 0.01
LAYER_NAMES = ("dense_1", "dense_2", "dense_3")
CHUNK = 8  # steps per measured unit


def build_model(seed=0):
    rng = np.random.default_rng(seed)
    weights = [
        tf.Variable(rng.normal(0, np.sqrt(2 / n_in), (n_in, n_out)).astype(np.float32))
        for n_in, n_out in zip(SIZES, SIZES[1:])
    ]
    biases = [tf.Variable(np.zeros(n_out, np.float32)) for n_out in SIZES[1:]]
    return weights + biases


def make_train_step(params):
    weights, biases = params[: len(SIZES) - 1], params[len(SIZES) - 1 :]

    def train_step(x, y):
        """One SGD step; returns the loss and the three hidden activations."""
        with tf.GradientTape() as tape:
            hidden = []
            h = x
            for i, (w, b) in enumerate(zip(weights, biases)):
                h = tf.matmul(h, w) + b
                if i < len(weights) - 1:
                    h = tf.nn.relu(h)
                    hidden.append(h)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, h))
        for p, g in zip(params, tape.gradient(loss, params)):
            p.assign_sub(LEARNING_RATE * g)
        return loss, hidden

    return train_step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60, help="chunks measured per variant")
    args = parser.parse_args()

    rng = np.random.default_rng(1)
    x_all = rng.normal(size=(EXAMPLES, SIZES[0])).astype(np.float32)
    y_all = rng.integers(0, SIZES[-1], EXAMPLES).astype(np.int32)
    batches = [
        (tf.constant(x_all[i : i + BATCH]), tf.constant(y_all[i : i + BATCH]))
        for i in range(0, EXAMPLES, BATCH)
    ]
    train_step = make_train_step(build_model())
    logdir = tempfile.mkdtemp(prefix="deadrelu_bench_")
    writer = tf.summary.create_file_writer(logdir)
    accumulator = summary.Accumulator()
    step = tf.Variable(0, dtype=tf.int64)

    @tf.function
    def step_plain(x, y):
        loss, _ = train_step(x, y)
        return loss

    @tf.function
    def step_accumulator(x, y):
        loss, hidden = train_step(x, y)
        for name, h in zip(LAYER_NAMES, hidden):
            accumulator.update(name, h)
        return loss

    @tf.function
    def step_activations(x, y):
        loss, hidden = train_step(x, y)
        step.assign_add(1)
        with writer.as_default(step=step):
            for name, h in zip(LAYER_NAMES, hidden):
                summary.activations(name, h)
        return loss

    chunks = [batches[i : i + CHUNK] for i in range(0, len(batches), CHUNK)]
    chunks_per_epoch = len(chunks)

    def chunk_of(step_fn):
        position = [0]

        def run():
            chunk = chunks[position[0] % chunks_per_epoch]
            position[0] += 1
            for x, y in chunk:
                loss = step_fn(x, y)
            loss.numpy()  # wait for the last step

        return run

    def write_accumulator():
        with writer.as_default():
            accumulator.write(step=step.assign_add(1)).numpy()

    variants = {
        "plain": chunk_of(step_plain),
        "accumulator": chunk_of(step_accumulator),
        "activations": chunk_of(step_activations),
        "accumulator.write": write_accumulator,
    }
    print(
        "custom loop, MLP %s, batch %d, %d steps/epoch, CPU; fastest of %d interleaved chunks of %d steps"
        % ("-".join(map(str, SIZES)), BATCH, len(batches), args.rounds, CHUNK)
    )
    for clock_name, clock in (("wall-clock", time.perf_counter), ("process CPU", time.process_time)):
        times = ab.compare(variants, rounds=args.rounds, warmup=2, clock=clock)
        print("--- %s time" % clock_name)
        report(times, chunks_per_epoch)
    writer.flush()


def report(times, chunks_per_epoch):
    """Prints the (a) and (b) ratios of one measurement."""
    ab.print_ratios({k: v for k, v in times.items() if k != "accumulator.write"}, "plain", targets={"activations": 1.05})
    plain_epoch = chunks_per_epoch * times["plain"]["min"]
    accumulator_epoch = chunks_per_epoch * times["accumulator"]["min"] + times["accumulator.write"]["min"]
    ratio = accumulator_epoch / plain_epoch
    print(
        "(a) accumulator per epoch = %d x %.4f s + write %.4f s = %.4f s / plain %d x %.4f s = %.4f s: "
        "ratio %.4f (target <= 1.03: %s)"
        % (
            chunks_per_epoch, times["accumulator"]["min"], times["accumulator.write"]["min"], accumulator_epoch,
            chunks_per_epoch, times["plain"]["min"], plain_epoch, ratio, "met" if ratio <= 1.03 else "MISSED",
        )
    )
    activations_ratio = times["activations"]["min"] / times["plain"]["min"]
    print(
        "(b) summary.activations every step: %.4f s / plain %.4f s per chunk: ratio %.4f (target <= 1.05: %s)"
        % (times["activations"]["min"], times["plain"]["min"], activations_ratio, "met" if activations_ratio <= 1.05 else "MISSED")
    )

if __name__ == "__main__":
    main()
