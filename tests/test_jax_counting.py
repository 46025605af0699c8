"""The JAX adapter: per-unit sums counted inside a jitted step equal the numpy rule, and written records match."""

import json
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import tensorboard_plugin_deadrelu.jax as deadrelu  # noqa: E402
from tensorboard_plugin_deadrelu.core import sums as core_sums  # noqa: E402
from tensorboard_plugin_deadrelu.jax import sums as jax_sums  # noqa: E402
from tests.oracle import numpy_sums  # noqa: E402
from tests import eventfiles  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def assert_sums_equal(got, expected, rtol=1e-5):
    assert got["count"] == expected["count"]
    np.testing.assert_array_equal(got["zeros"], expected["zeros"])
    np.testing.assert_array_equal(got["nonfinite"], expected["nonfinite"])
    np.testing.assert_allclose(got["abs_sum"], expected["abs_sum"], rtol=rtol, atol=1e-6)


# ---------------------------------------------------------------- a 2-layer MLP in pure JAX


def init_params():
    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(5, 8)).astype(np.float32)
    b1 = np.zeros(8, np.float32)
    b1[:3] = -100.0  # three dead units
    w2 = rng.normal(size=(8, 6)).astype(np.float32)
    b2 = np.zeros(6, np.float32)
    b2[0] = -100.0
    w3 = rng.normal(size=(6, 1)).astype(np.float32)
    return {"w1": w1, "b1": b1, "w2": w2, "b2": b2, "w3": w3}


def forward(params, x):
    h1 = jax.nn.relu(x @ params["w1"] + params["b1"])
    h2 = jax.nn.relu(h1 @ params["w2"] + params["b2"])
    return h2 @ params["w3"], {"dense_1": h1, "dense_2": h2}


def loss_fn(params, x, y):
    out, acts = forward(params, x)
    return jnp.mean((out[:, 0] - y) ** 2), acts


def make_step(traces=None):
    @jax.jit
    def train_step(params, sums, x, y):
        if traces is not None:
            traces.append(x.shape)  # runs only while tracing
        (loss, acts), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, y)
        params = jax.tree_util.tree_map(lambda p, g: p - 0.0 * g, params, grads)  # learning rate 0
        return params, deadrelu.add(sums, acts), loss

    return train_step


def batches(rows=50, size=16):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(rows, 5)).astype(np.float32)
    y = rng.normal(size=rows).astype(np.float32)
    return [(x[i:i + size], y[i:i + size]) for i in range(0, rows, size)]  # the last batch is partial


def numpy_oracle(params, data):
    """core.sums.reduce_np over the epoch's rows, activations computed by the same XLA forward."""
    acts = [jax.jit(forward)(params, x)[1] for x, _ in data]
    return {name: numpy_sums(np.concatenate([np.asarray(a[name]) for a in acts])) for name in acts[0]}


def test_mlp_epochs_write_records_equal_to_numpy(tmp_path):
    params = init_params()
    data = batches()
    expected = numpy_oracle(params, data)
    traces = []
    step = make_step(traces)
    sums = deadrelu.zeros({"dense_1": 8, "dense_2": 6})
    with deadrelu.Writer(str(tmp_path)) as writer:
        for epoch in range(3):
            for x, y in data:
                params, sums, _ = step(params, sums, x, y)
            shares = writer.write(sums, step=epoch + 1)
            sums = deadrelu.zeros_like(sums)
            assert shares == {"dense_1": 3 / 8, "dense_2": 1 / 6}
    assert len(traces) == 2  # the full batch shape and the partial last batch: no recompilation per step

    records = eventfiles.read_records(str(tmp_path))
    assert sorted(records) == [(".", "dense_1"), (".", "dense_2")]
    for name in ("dense_1", "dense_2"):
        steps = records[(".", name)]
        assert [s for s, _ in steps] == [1, 2, 3]
        for _, record in steps:
            assert record.count == 50
            np.testing.assert_array_equal(record.zeros, expected[name]["zeros"])
            np.testing.assert_array_equal(record.nonfinite, expected[name]["nonfinite"])
            np.testing.assert_allclose(record.abs_sum, expected[name]["abs_sum"], rtol=1e-5)
    contents = eventfiles.plugin_contents(str(tmp_path))
    assert contents["dense_1"].order == 0 and contents["dense_2"].order == 1
    scalars = {}
    for _, event in eventfiles.read_events(str(tmp_path)):
        for value in event.summary.value:
            if value.tag.endswith("dead_fraction"):
                scalars.setdefault(value.tag, []).append(event.step)
    assert scalars == {"deadrelu/dense_1/dead_fraction": [1, 2, 3], "deadrelu/dense_2/dead_fraction": [1, 2, 3]}


def test_warn_above_and_stop_above(tmp_path, caplog):
    params = init_params()
    step = make_step()
    writer = deadrelu.Writer(str(tmp_path), warn_above=0.3, stop_above=0.9)
    sums = deadrelu.zeros({"dense_1": 8, "dense_2": 6})
    for x, y in batches():
        params, sums, _ = step(params, sums, x, y)
    with caplog.at_level(logging.WARNING):
        writer.write(sums, step=1)
        writer.write(sums, step=2)
    warnings = [r.getMessage() for r in caplog.records if "deadrelu.Writer" in r.getMessage()]
    assert len(warnings) == 1 and "'dense_1'" in warnings[0] and "step 1" in warnings[0]
    assert not writer.should_stop
    with pytest.raises(ValueError, match="step"):
        writer.write(sums, step=2)
    writer.close()

    stopper = deadrelu.Writer(str(tmp_path / "stop"), stop_above=0.2)
    stopper.write(sums, step=1)
    assert stopper.should_stop
    stopper.close()


def test_writer_into_an_existing_sink():
    events = []

    class Sink:
        def add_event(self, event):
            events.append(event)

    sums = deadrelu.add(deadrelu.zeros({"a": 2}), {"a": jnp.array([[0.0, 1.0]])})
    with deadrelu.Writer(writer=Sink()) as writer:
        assert writer.write(sums, step=4) == {"a": 0.5}
    assert {v.tag for e in events for v in e.summary.value} == {"a", "deadrelu/a/dead_fraction"}


# ---------------------------------------------------------------- the reduction rule


def special_values():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(7, 3, 4)).astype(np.float32)
    x[0, 0, 0] = np.nan
    x[1, 2, 0] = np.inf
    x[2, 1, 1] = -np.inf
    x[3, 0, 1] = -0.0
    x[:, :, 2] = 0.0
    x[4, 1, 2] = np.nan
    x[5, 0, 3] = -0.0
    return x


def test_nan_inf_and_negative_zero_follow_the_numpy_rule():
    x = special_values()
    got = deadrelu.to_numpy(jax.jit(deadrelu.add)(deadrelu.zeros({"a": 4}), {"a": x}))["a"]
    assert_sums_equal(got, numpy_sums(x))
    assert got["zeros"][2] == 20 and got["nonfinite"].tolist() == [2, 1, 1, 0]


def test_channels_first_integers_and_a_layer_left_out():
    x = special_values()
    nchw = np.moveaxis(x, -1, 1)
    ints = np.array([[0, -3, 2], [0, 0, 5]], np.int32)
    sums = deadrelu.zeros({"conv": 4, "ints": 3, "idle": 2})
    sums = jax.jit(lambda s, a, b: deadrelu.add(s, {"conv": a, "ints": b}, channels_first={"conv": True}))(
        sums, nchw, ints
    )
    got = deadrelu.to_numpy(sums)
    assert_sums_equal(got["conv"], numpy_sums(nchw, channels_first=True))
    assert_sums_equal(got["ints"], numpy_sums(ints))
    assert_sums_equal(got["idle"], core_sums.empty(2))


def test_mistakes_raise_value_errors_naming_them():
    sums = deadrelu.zeros({"a": 4})
    with pytest.raises(ValueError, match="units"):
        deadrelu.add(sums, {"a": jnp.zeros((2, 3))})
    with pytest.raises(ValueError, match="unknown"):
        deadrelu.add(sums, {"b": jnp.zeros((2, 4))})
    with pytest.raises(ValueError, match="units: .a. must have"):
        deadrelu.zeros({"a": 0})
    with pytest.raises(ValueError, match="sums must"):
        deadrelu.add({"a": 1}, {})
    with pytest.raises(ValueError, match="log_dir"):
        deadrelu.Writer()


GOLDEN = os.path.join(ROOT, "tests", "golden", "sums_vectors.json")
with open(GOLDEN, encoding="utf-8") as _f:
    GOLDEN_CASES = json.load(_f)["cases"]
SPECIAL = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def golden_input(case):
    def from_json(values):
        if isinstance(values, list):
            return [from_json(v) for v in values]
        return SPECIAL.get(values, values) if isinstance(values, str) else values

    wide = np.int64 if case["dtype"] == "int32" else np.float64
    array = np.array(from_json(case["values"]), dtype=wide).reshape(case["shape"])
    return jnp.asarray(array.astype(np.int32) if case["dtype"] == "int32" else array, dtype=case["dtype"])


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=[case["name"] for case in GOLDEN_CASES])
def test_golden_vectors(case):
    """tests/golden/sums_vectors.json, added twice in a jitted step (float64 inputs with x64 on:
    without it JAX has no float64 arrays)."""
    if case["dtype"] == "float64":
        with jax.enable_x64(True):
            check_golden_case(case)
    else:
        check_golden_case(case)


def check_golden_case(case):
    first = case["layout"] == "channels_first"
    values = golden_input(case)
    units = values.shape[1 if first else -1]
    step = jax.jit(lambda s, v: deadrelu.add(s, {"a": v}, channels_first=first))
    got = deadrelu.to_numpy(step(step(deadrelu.zeros({"a": units}), values), values))["a"]
    assert got["count"] == 2 * case["count"]
    assert got["zeros"].tolist() == [2 * z for z in case["zeros"]]
    assert got["nonfinite"].tolist() == [2 * n for n in case["nonfinite"]]
    expected = 2 * np.array(case["abs_sum"], np.float64)
    rtol = max(case["abs_sum_rtol"], case["count"] * 2.0**-24) + 2.0**-24
    if case.get("abs_sum_beyond_float32"):
        beyond = expected > np.finfo(np.float32).max
        assert np.all(np.isposinf(got["abs_sum"][beyond])), case["name"]
        got["abs_sum"], expected = got["abs_sum"][~beyond], expected[~beyond]
    assert np.all(np.abs(got["abs_sum"] - expected) <= rtol * expected), (case["name"], got["abs_sum"], expected)


# ---------------------------------------------------------------- exact counts, accurate abs_sum


def test_word_pairs_carry_past_2_32():
    pair = jnp.array([[2**32 - 2, 2**32 - 1], [0, 7]], jnp.uint32)
    pair = jax_sums.add_to_pair(pair, jnp.array([5, 2**32 - 1], jnp.uint32))
    np.testing.assert_array_equal(jax_sums.pair_to_int(pair), [2**32 + 3, 7 * 2**32 + 2**33 - 2])
    big = 5 * 2**32 + 11  # a Python int is split into both words
    assert int(jax_sums.pair_to_int(jax_sums.add_to_pair(jnp.zeros(2, jnp.uint32), big))) == big

    @jax.jit
    def many(pair):  # 2**32 - 3 added 4 times in a scan
        return jax.lax.scan(lambda p, _: (jax_sums.add_to_pair(p, jnp.uint32(2**32 - 3)), None), pair, None,
                            length=4)[0]

    assert int(jax_sums.pair_to_int(many(jnp.zeros(2, jnp.uint32)))) == 4 * (2**32 - 3)


def test_public_counts_past_2_32_through_add():
    # Sums just below 2**32 values, then batches through the public add: the low word wraps, the total stays exact.
    start = 2**32 - 5
    sums = deadrelu.zeros({"a": 2})
    sums = jax.tree_util.tree_map(lambda v: v.at[0].set(start) if v.dtype == jnp.uint32 else v, sums)
    batch = jnp.array([[0.0, np.nan]] * 4)
    sums = jax.jit(lambda s: jax.lax.scan(lambda s, _: (deadrelu.add(s, {"a": batch}), None), s, None, length=3)[0])(
        sums)
    got = deadrelu.to_numpy(sums)["a"]
    assert got["count"] == start + 12
    np.testing.assert_array_equal(got["zeros"], [start + 12, start])
    np.testing.assert_array_equal(got["nonfinite"], [start, start + 12])


def test_a_broadcast_batch_of_2_31_rows_counts_exactly():
    @jax.jit
    def count(sums):
        x = jnp.broadcast_to(jnp.float32(0.0), (2**31, 1))
        for _ in range(3):
            sums = deadrelu.add(sums, {"a": x})
        return sums

    got = deadrelu.to_numpy(count(deadrelu.zeros({"a": 1})))["a"]
    assert got["count"] == 3 * 2**31 and got["zeros"].tolist() == [3 * 2**31]


def test_kahan_keeps_abs_sum_accurate_over_many_batches():
    values = jnp.full((1, 3), 0.1, jnp.float32)

    @jax.jit
    def run(sums):
        return jax.lax.scan(lambda s, _: (deadrelu.add(s, {"a": values}), None), sums, None, length=100_000)[0]

    got = deadrelu.to_numpy(run(deadrelu.zeros({"a": 3})))["a"]
    exact = 100_000 * np.float64(np.float32(0.1))
    np.testing.assert_allclose(got["abs_sum"], exact, rtol=1e-7)  # a plain float32 running sum is off by ~1e-4


# ---------------------------------------------------------------- jit, scan


def test_scan_over_batches_equals_a_python_loop():
    params = init_params()
    data = batches(rows=48)  # equal batches to stack them
    step = make_step()
    loop_sums = deadrelu.zeros({"dense_1": 8, "dense_2": 6})
    for x, y in data:
        _, loop_sums, _ = step(params, loop_sums, x, y)
    xs = jnp.stack([x for x, _ in data])
    ys = jnp.stack([y for _, y in data])

    @jax.jit
    def epoch(params, sums, xs, ys):
        def body(carry, batch):
            params, sums = carry
            params, sums, loss = step(params, sums, *batch)
            return (params, sums), loss

        return jax.lax.scan(body, (params, sums), (xs, ys))[0][1]

    scan_sums = epoch(params, deadrelu.zeros({"dense_1": 8, "dense_2": 6}), xs, ys)
    looped, scanned = deadrelu.to_numpy(loop_sums), deadrelu.to_numpy(scan_sums)
    for name in ("dense_1", "dense_2"):
        assert_sums_equal(scanned[name], looped[name], rtol=1e-6)
        assert_sums_equal(scanned[name], numpy_oracle(params, data)[name])


# ---------------------------------------------------------------- subprocesses: devices, no TensorFlow


def run_script(script, env_extra=None):
    env = dict(os.environ, JAX_PLATFORMS="cpu", **(env_extra or {}))
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                            env=env, timeout=240, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_sums_over_a_batch_sharded_on_two_devices_are_global():
    out = run_script(
        """
        import json
        import numpy as np
        import jax, jax.numpy as jnp
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        import tensorboard_plugin_deadrelu.jax as deadrelu
        from tensorboard_plugin_deadrelu.core import sums as core_sums
        from tests.oracle import numpy_sums
        assert jax.device_count() == 2, jax.devices()
        mesh = Mesh(np.array(jax.devices()), ("batch",))
        rng = np.random.default_rng(3)
        x = rng.normal(size=(16, 5, 4)).astype(np.float32)
        x[x < 0.2] = 0.0
        x[3, 1, 2] = np.nan
        xs = jax.device_put(x, NamedSharding(mesh, P("batch")))
        assert len(xs.sharding.device_set) == 2
        sums = jax.device_put(deadrelu.zeros({"a": 4}), NamedSharding(mesh, P()))
        step = jax.jit(lambda s, x: deadrelu.add(s, {"a": jax.nn.relu(x) * 1.0 + 0.0 * x}))
        for _ in range(2):
            sums = step(sums, xs)
        got = deadrelu.to_numpy(jax.device_get(sums))["a"]
        relu = np.maximum(x, 0) + 0.0 * x
        one = numpy_sums(relu)
        expected = core_sums.add(one, one)
        ok = (got["count"] == expected["count"] and (got["zeros"] == expected["zeros"]).all()
              and (got["nonfinite"] == expected["nonfinite"]).all()
              and np.allclose(got["abs_sum"], expected["abs_sum"], rtol=1e-5))
        print(json.dumps({"ok": bool(ok), "count": got["count"], "zeros": got["zeros"].tolist(),
                          "expected": expected["zeros"].tolist()}))
        """,
        {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    )
    result = json.loads(out)
    assert result["ok"], result
    assert result["count"] == 160


@pytest.mark.slow
def test_importing_and_writing_does_not_need_tensorflow(tmp_path):
    out = run_script(
        """
        import sys
        sys.modules["tensorflow"] = None  # any `import tensorflow` now fails
        import jax.numpy as jnp
        import tensorboard_plugin_deadrelu.jax as deadrelu
        sums = deadrelu.add(deadrelu.zeros({"a": 2}), {"a": jnp.array([[0.0, 1.0]])})
        with deadrelu.Writer(%r) as writer:
            print(writer.write(sums, step=1))
        """ % str(tmp_path)
    )
    assert out == "{'a': 0.5}"
    assert eventfiles.read_records(str(tmp_path))[(".", "a")][0][1].count == 1


# ---------------------------------------------------------------- Flax


def test_flax_linen_sow_counts_match_numpy():
    nn = pytest.importorskip("flax.linen")
    optax = pytest.importorskip("optax")

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            h1 = nn.relu(nn.Dense(8, bias_init=nn.initializers.constant(-0.3))(x))
            self.sow("intermediates", "dense_1", h1)
            h2 = nn.relu(nn.Dense(6)(h1))
            self.sow("intermediates", "dense_2", h2)
            return nn.Dense(1)(h2)[:, 0]

    model = MLP()
    data = batches()
    params = model.init(jax.random.PRNGKey(0), data[0][0])["params"]
    optimizer = optax.sgd(0.0)
    opt_state = optimizer.init(params)

    def loss_fn(params, x, y):
        out, state = model.apply({"params": params}, x, mutable=["intermediates"])
        acts = deadrelu.from_intermediates(state["intermediates"])
        return jnp.mean((out - y) ** 2), acts

    traces = []

    @jax.jit
    def train_step(params, opt_state, sums, x, y):
        traces.append(1)
        (loss, acts), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, deadrelu.add(sums, acts), loss

    sums = deadrelu.zeros({"dense_1": 8, "dense_2": 6})
    for _ in range(2):
        for x, y in data:
            params, opt_state, sums, _ = train_step(params, opt_state, sums, x, y)
    assert len(traces) == 2  # full and partial batch

    rows = [deadrelu.from_intermediates(model.apply({"params": params}, x, mutable=["intermediates"])[1]
                                        ["intermediates"]) for x, _ in data]
    got = deadrelu.to_numpy(sums)
    for name in ("dense_1", "dense_2"):
        one = numpy_sums(np.concatenate([np.asarray(r[name]) for r in rows]))
        assert_sums_equal(got[name], core_sums.add(one, one))
    assert got["dense_1"]["zeros"].sum() > 0


@pytest.mark.parametrize("capture", ["capture", "pop"])
@pytest.mark.filterwarnings("ignore:Using 'Module.sow\\(\\)' outside:DeprecationWarning")
def test_flax_nnx_sow_counts_match_numpy(capture):
    nnx = pytest.importorskip("flax.nnx")
    optax = pytest.importorskip("optax")
    if capture == "capture" and not hasattr(nnx, "capture"):
        pytest.skip("nnx.capture is new in Flax 0.12")

    class MLP(nnx.Module):
        def __init__(self, rngs):
            # Attribute names differ from the sown names: NNX keeps both on the module.
            self.linear_1 = nnx.Linear(5, 8, rngs=rngs)
            self.linear_2 = nnx.Linear(8, 6, rngs=rngs)
            self.out = nnx.Linear(6, 1, rngs=rngs)

        def __call__(self, x):
            h1 = nnx.relu(self.linear_1(x) - 0.3)
            self.sow(nnx.Intermediate, "dense_1", h1)
            h2 = nnx.relu(self.linear_2(h1))
            self.sow(nnx.Intermediate, "dense_2", h2)
            return self.out(h2)[:, 0]

    def forward(model, x):
        """The model's output and its activations, the model unchanged."""
        if capture == "capture":  # Flax >= 0.12
            out, intermediates = nnx.capture(model, nnx.Intermediate)(x)
        else:  # older Flax: sow stores on the module, pop takes it off
            out = model(x)
            intermediates = nnx.pop(model, nnx.Intermediate)
        return out, deadrelu.from_intermediates(intermediates)

    model = MLP(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.sgd(0.0), wrt=nnx.Param)
    traces = []

    @nnx.jit
    def train_step(model, optimizer, sums, x, y):
        traces.append(1)

        def loss_fn(model):
            out, acts = forward(model, x)
            return jnp.mean((out - y) ** 2), acts

        (loss, acts), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
        optimizer.update(model, grads)
        return deadrelu.add(sums, acts), loss

    data = batches()
    sums = deadrelu.zeros({"dense_1": 8, "dense_2": 6})
    for x, y in data:
        sums, _ = train_step(model, optimizer, sums, x, y)
    assert len(traces) == 2  # full and partial batch

    rows = [forward(model, x)[1] for x, _ in data]
    got = deadrelu.to_numpy(sums)
    for name in ("dense_1", "dense_2"):
        assert_sums_equal(got[name], numpy_sums(np.concatenate([np.asarray(r[name]) for r in rows])))
    assert got["dense_1"]["zeros"].sum() > 0
