"""What counting inside ``jax.jit`` costs, against no counting and the host-copy recipe.

The model and data of ``bench_keras_monitor.py`` in pure JAX: a
784-1024-1024-1024-10 ReLU MLP, 16,384 x 784 synthetic rows, batch 256, SGD.
One epoch of a jitted train step per variant, interleaved in rounds in one
process (A B C, C B A, ...), the fastest round of each compared:

* ``plain``       the step returns the new parameters and the loss;
* ``in_jit``      the step also returns ``deadrelu.add(sums, activations)``
                  (tensorboard_plugin_deadrelu.jax), one ``Writer.write`` per
                  epoch (target <= 1.03);
* ``host_copies`` the recipe the README used to give: the step returns the
                  activations, copied to the host with ``jax.device_get`` at
                  every step and reduced with the numpy twin.

Run from the repository root::

    python benchmarks/bench_jax_counting.py [--rounds 5]
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
try:
    from benchmarks import ab
except ImportError:  # run as a script from benchmarks/
    import ab

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import tensorboard_plugin_deadrelu.jax as deadrelu  # noqa: E402
from tensorboard_plugin_deadrelu import summary  # noqa: E402
from tensorboard_plugin_deadrelu.event_writer import RecordWriter  # noqa: E402

ROWS, FEATURES, CLASSES, BATCH = 16384, 784, 10, 256
HIDDEN = (1024, 1024, 1024)
NAMES = ["dense_%d" % i for i in range(len(HIDDEN))]


def init_params(key):
    sizes = (FEATURES,) + HIDDEN + (CLASSES,)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        key, sub = jax.random.split(key)
        params.append((jax.random.normal(sub, (fan_in, fan_out)) * np.sqrt(2.0 / fan_in), jnp.zeros(fan_out)))
    return params


def loss_fn(params, x, y):
    acts = {}
    h = x
    for name, (w, b) in zip(NAMES, params[:-1]):
        h = jax.nn.relu(h @ w + b)
        acts[name] = h
    w, b = params[-1]
    logits = h @ w + b
    loss = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))
    return loss, acts


def sgd(params, grads):
    return jax.tree_util.tree_map(lambda p, g: p - 0.01 * g, params, grads)


@jax.jit
def plain_step(params, x, y):
    (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, y)
    return sgd(params, grads), loss


@jax.jit
def counting_step(params, sums, x, y):
    (loss, acts), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, y)
    return sgd(params, grads), deadrelu.add(sums, acts), loss


@jax.jit
def activations_step(params, x, y):
    (loss, acts), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, y)
    return sgd(params, grads), acts, loss


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((ROWS, FEATURES), np.float32))
    y = jnp.asarray(rng.integers(0, CLASSES, ROWS))
    batches = [(x[i : i + BATCH], y[i : i + BATCH]) for i in range(0, ROWS, BATCH)]
    start = init_params(jax.random.PRNGKey(0))
    logdir = tempfile.mkdtemp(prefix="bench_jax_")
    in_jit_writer = deadrelu.Writer(os.path.join(logdir, "in_jit"))
    host_writer = RecordWriter(os.path.join(logdir, "host_copies"))
    steps = {"in_jit": 0, "host_copies": 0}

    def plain():
        params = start
        for xb, yb in batches:
            params, loss = plain_step(params, xb, yb)
        jax.block_until_ready(params)

    def in_jit():
        params, sums = start, deadrelu.zeros(dict(zip(NAMES, HIDDEN)))
        for xb, yb in batches:
            params, sums, loss = counting_step(params, sums, xb, yb)
        steps["in_jit"] += 1
        in_jit_writer.write(sums, step=steps["in_jit"])
        jax.block_until_ready(params)

    def host_copies():
        params, totals = start, {}
        for xb, yb in batches:
            params, acts, loss = activations_step(params, xb, yb)
            for name, value in jax.device_get(acts).items():
                totals[name] = summary.reduce_activations_np(value) if name not in totals else {
                    k: totals[name][k] + v for k, v in summary.reduce_activations_np(value).items()}
        steps["host_copies"] += 1
        for order, name in enumerate(NAMES):
            host_writer.write_record(name, steps["host_copies"], **totals[name], order=order)
        jax.block_until_ready(params)

    print("jax %s, %d devices, %s; %d rows, batch %d, %s hidden" % (
        jax.__version__, jax.device_count(), jax.devices()[0].platform, ROWS, BATCH, HIDDEN))
    for clock_name, clock in (("wall", time.perf_counter), ("CPU", time.process_time)):
        times = ab.compare({"plain": plain, "in_jit": in_jit, "host_copies": host_copies}, rounds=args.rounds, clock=clock)
        print("-- %s seconds per epoch" % clock_name)
        ab.print_ratios(times, "plain", targets={"in_jit": 1.03})
    in_jit_writer.close()
    host_writer.close()


if __name__ == "__main__":
    main()
