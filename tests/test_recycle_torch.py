"""Recycling dead units (ReDo) with the torch monitor: exactly the touched weights change, the
model's output does not, the optimizer state of those entries is 0, and the resets are recorded."""

import io
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from tensorboard import context as tb_context  # noqa: E402

from tensorboard_plugin_deadrelu.core import metadata  # noqa: E402
from tensorboard_plugin_deadrelu.report import cli  # noqa: E402
from tensorboard_plugin_deadrelu.server import plugin  # noqa: E402
from tensorboard_plugin_deadrelu.torch import DeadReluMonitor  # noqa: E402
from tests import eventfiles  # noqa: E402
from tests.provider_fixtures import data_provider  # noqa: E402

DEAD = [1, 3]  # units of the first hidden layer made dead


def symmetric_inputs(rows, features, seed=0):
    """Rows x and -x: a unit with any nonzero weight row is positive on one of each pair."""
    g = torch.Generator().manual_seed(seed)
    half = torch.rand(rows // 2, features, generator=g) + 0.1
    return torch.cat([half, -half])


def mlp():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    with torch.no_grad():
        model[0].bias.fill_(1.0)
        model[0].bias[DEAD] = -100.0
        model[2].bias.fill_(3.0)  # the second hidden layer stays alive
    return model


def adam_with_state(model, x):
    """Adam after one step, its moments then filled with distinct nonzero values (a dead unit's are 0)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(x).sum().backward()
    optimizer.step()
    optimizer.zero_grad()
    g = torch.Generator().manual_seed(1)
    for state in optimizer.state.values():
        state["exp_avg"].copy_(torch.rand(state["exp_avg"].shape, generator=g) + 1)
        state["exp_avg_sq"].copy_(torch.rand(state["exp_avg_sq"].shape, generator=g) + 1)
    return optimizer


def snapshot(model, optimizer=None):
    params = {name: p.detach().clone() for name, p in model.state_dict().items()}
    state = {}
    if optimizer is not None:
        names = {id(p): name for name, p in model.named_parameters()}
        for p, s in optimizer.state.items():
            state[names[id(p)]] = {k: v.clone() for k, v in s.items()}
    return params, state


def changed_mask(before, after):
    return {name: ~torch.eq(before[name], after[name]) for name in before}


def expected_masks(shapes, touched):
    """``{name: bool mask}``: True at the entries ``touched[name]`` (an index) selects."""
    masks = {name: torch.zeros(shape, dtype=torch.bool) for name, shape in shapes.items()}
    for name, index in touched.items():
        masks[name][index] = True
    return masks


def run_dead_mlp(tmp_path, **recycle_kwargs):
    model = mlp()
    x = symmetric_inputs(32, 4)
    optimizer = adam_with_state(model, x)
    monitor = DeadReluMonitor(model, str(tmp_path))
    model(x)
    shares = monitor.write(step=1)
    assert shares["1"] == len(DEAD) / 6
    return model, optimizer, monitor, x


def test_recycling_touches_exactly_the_dead_units_rows_columns_and_adam_moments(tmp_path):
    model, optimizer, monitor, x = run_dead_mlp(tmp_path)
    model.eval()
    with torch.no_grad():
        out_before = model(x)
    params_before, state_before = snapshot(model, optimizer)
    step_before = {name: s["step"].clone() for name, s in state_before.items()}

    assert monitor.recycle(optimizer) == {"1": DEAD, "3": []}

    params_after, state_after = snapshot(model, optimizer)
    rows = torch.tensor(DEAD)
    touched = {"0.weight": (rows,), "0.bias": (rows,), "2.weight": (slice(None), rows)}
    expected = expected_masks({n: t.shape for n, t in params_before.items()}, touched)
    # The re-drawn rows differ everywhere (a fresh draw equals the old weight with probability 0).
    for name, mask in changed_mask(params_before, params_after).items():
        assert torch.equal(mask, expected[name]), name
    assert torch.all(params_after["0.bias"][rows] == 0)
    assert torch.all(params_after["2.weight"][:, rows] == 0)
    # The output layer (4) and the second layer's bias are untouched.
    for name in ("4.weight", "4.bias", "2.bias"):
        assert torch.equal(params_after[name], params_before[name])
    # The model's output is exactly what it was.
    with torch.no_grad():
        assert torch.equal(model(x), out_before)
    # Adam: moments of exactly the touched entries are 0, all others unchanged; step untouched.
    for name in params_before:
        for key in ("exp_avg", "exp_avg_sq"):
            before, after = state_before[name][key], state_after[name][key]
            mask = expected[name]
            assert torch.all(after[mask] == 0), (name, key)
            assert torch.equal(after[~mask], before[~mask]), (name, key)
        assert torch.equal(state_after[name]["step"], step_before[name])
    monitor.close()


def test_recycled_unit_fires_again_and_the_next_record_counts_only_later_batches(tmp_path):
    model, optimizer, monitor, x = run_dead_mlp(tmp_path)
    model(x)  # counted before the recycling: dropped by it
    monitor.recycle(optimizer)
    with torch.no_grad():
        hidden = torch.relu(model[0](x))  # not through the watched module: not counted
    # Each re-drawn row w is positive on x or -x of every pair.
    assert all(bool((hidden[:, u] > 0).any()) for u in DEAD)
    model(x[:10])
    monitor.write(step=2)
    records = eventfiles.read_records(str(tmp_path))
    (step, record), = [r for r in records[(".", "1")] if r[0] == 2]
    assert record.count == 10
    assert not record.dead[DEAD].any()
    monitor.close()


def test_recycled_records_read_back_with_zeros_1_at_the_recycled_units(tmp_path):
    model, optimizer, monitor, x = run_dead_mlp(tmp_path)
    monitor.recycle(optimizer)
    monitor.close()
    records = eventfiles.read_records(str(tmp_path))
    assert (".", "3/recycled") not in records  # nothing recycled there: no record
    (step, record), = records[(".", "1/recycled")]
    assert step == 1 and record.count == 1
    assert record.zeros.tolist() == [0, 1, 0, 1, 0, 0]
    assert not record.abs_sum.any() and not record.nonfinite.any()
    content = eventfiles.plugin_contents(str(tmp_path))["1/recycled"]
    assert content.kind == metadata.KIND_RECYCLED and content.units == 6


def test_recycle_needs_a_new_record(tmp_path):
    model, optimizer, monitor, x = run_dead_mlp(tmp_path)
    monitor.recycle(optimizer)
    with pytest.raises(ValueError, match="no record since the previous recycling"):
        monitor.recycle(optimizer)
    monitor.close()


def test_sgd_momentum_of_touched_entries_is_zeroed(tmp_path):
    model = mlp()
    x = symmetric_inputs(32, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model(x).sum().backward()
    optimizer.step()
    for state in optimizer.state.values():
        state["momentum_buffer"].fill_(2.0)
    with DeadReluMonitor(model, str(tmp_path)) as monitor:
        model(x)
        monitor.write(1)
        monitor.recycle(optimizer)
    buffer = optimizer.state[model[2].weight]["momentum_buffer"]
    assert torch.all(buffer[:, DEAD] == 0)
    assert np.all(np.delete(buffer.numpy(), DEAD, axis=1) == 2.0)
    assert torch.all(optimizer.state[model[4].weight]["momentum_buffer"] == 2.0)


def test_tau_recycles_dormant_units_by_the_analysis_score(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0], [1, 0], [1, 0], [0.01, 0]]))
        model[0].bias.zero_()
    x = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    with DeadReluMonitor(model, str(tmp_path)) as monitor:
        model(x)
        monitor.write(1)
        # mean|a| = 1.5, 1.5, 1.5, 0.015; layer mean 1.12875: unit 3 scores 0.0133.
        assert monitor.recycle(None, tau=0.01) == {"1": []}
        model(x)
        monitor.write(2)
        assert monitor.recycle(None, tau=0.025) == {"1": [3]}


def test_initializer_draws_the_rows(tmp_path):
    model, optimizer, monitor, x = run_dead_mlp(tmp_path)
    monitor.recycle(optimizer, initializer=lambda t: t.fill_(0.5))
    assert torch.all(model[0].weight[DEAD] == 0.5)
    assert not torch.any(model[0].weight[[0, 2, 4, 5]] == 0.5)
    monitor.close()


def test_conv_flatten_linear_maps_a_channel_to_its_h_times_w_columns(tmp_path):
    # Conv output 2 channels x 2 x 3 (channels first): channel 1 is columns 6..11 of the Linear.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, kernel_size=1), nn.ReLU(), nn.Dropout(0.0), nn.Flatten(), nn.Linear(12, 3))
    with torch.no_grad():
        model[0].bias.copy_(torch.tensor([1.0, -100.0]))
    x = torch.rand(5, 1, 2, 3)
    optimizer = adam_with_state(model, x)
    model.eval()
    with torch.no_grad():
        out_before = model(x)
    model.train()
    params_before, state_before = snapshot(model, optimizer)
    with DeadReluMonitor(model, str(tmp_path)) as monitor:
        model(x)
        monitor.write(1)
        assert monitor._flatten_shapes[id(model[3])] == (5, 2, 2, 3)
        assert monitor.recycle(optimizer) == {"1": [1]}
    params_after, state_after = snapshot(model, optimizer)
    touched = {"0.weight": ([1],), "0.bias": ([1],), "4.weight": (slice(None), list(range(6, 12)))}
    expected = expected_masks({n: t.shape for n, t in params_before.items()}, touched)
    for name, mask in changed_mask(params_before, params_after).items():
        if name == "0.weight":  # a 1x1 filter: one weight per filter
            assert torch.equal(mask, expected[name])
        else:
            assert torch.equal(mask, expected[name]), name
    assert torch.all(params_after["4.weight"][:, 6:] == 0)
    assert torch.equal(params_after["4.weight"][:, :6], params_before["4.weight"][:, :6])
    for key in ("exp_avg", "exp_avg_sq"):
        after = state_after["4.weight"][key]
        assert torch.all(after[:, 6:] == 0) and torch.equal(after[:, :6], state_before["4.weight"][key][:, :6])
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), out_before)


def test_batchnorm_channel_between_producer_and_relu_is_reset(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 2, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(2, 1),
    )
    bn = model[1]
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.5, 0.6, 0.7]))
        bn.running_var.copy_(torch.tensor([2.0, 3.0, 4.0]))
        bn.weight.copy_(torch.tensor([0.01, 0.5, 0.6]))
        bn.bias.copy_(torch.tensor([-100.0, 0.1, 0.2]))
    x = torch.rand(4, 1, 2, 2)
    optimizer = adam_with_state(model, x)
    params_before, state_before = snapshot(model, optimizer)
    with DeadReluMonitor(model, str(tmp_path), modules=["2"]) as monitor:
        model(x)
        monitor.write(1)
        params_before = snapshot(model)[0]  # the forward pass moved the running statistics
        model.eval()
        with torch.no_grad():
            out_before = model(x)
        assert monitor.recycle(optimizer) == {"2": [0]}
        with torch.no_grad():
            assert torch.equal(model(x), out_before)
    params_after, state_after = snapshot(model, optimizer)
    assert params_after["1.running_mean"].tolist() == [0.0] + params_before["1.running_mean"][1:].tolist()
    assert params_after["1.running_var"].tolist() == [1.0] + params_before["1.running_var"][1:].tolist()
    assert params_after["1.weight"].tolist() == [1.0] + params_before["1.weight"][1:].tolist()
    assert params_after["1.bias"].tolist() == [0.0] + params_before["1.bias"][1:].tolist()
    assert torch.equal(params_after["1.num_batches_tracked"], params_before["1.num_batches_tracked"])
    touched = {"0.weight": ([0],), "0.bias": ([0],), "1.weight": ([0],), "1.bias": ([0],),
               "1.running_mean": ([0],), "1.running_var": ([0],), "4.weight": (slice(None), [0])}
    expected = expected_masks({n: t.shape for n, t in params_before.items()}, touched)
    for name, mask in changed_mask(params_before, params_after).items():
        # BatchNorm statistics already equal to the reset value do not change.
        assert not torch.any(mask & ~expected[name]), name
    assert torch.all(params_after["4.weight"][:, 0] == 0) and params_after["0.bias"][0] == 0
    for key in ("exp_avg", "exp_avg_sq"):
        assert state_after["1.weight"][key][0] == 0 and state_after["1.weight"][key][1:].tolist() == \
            state_before["1.weight"][key][1:].tolist()


class NotSequential(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = nn.Linear(4, 6)
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(6, 2)
        with torch.no_grad():
            self.fc1.bias.fill_(1.0)
            self.fc1.bias[DEAD] = -100.0

    def forward(self, x):
        return self.fc2(self.act1(self.fc1(x)))


def test_unsupported_graph_raises_naming_the_module_then_pairs_work(tmp_path):
    model = NotSequential()
    x = symmetric_inputs(16, 4)
    before = snapshot(model)[0]
    with DeadReluMonitor(model, str(tmp_path / "a")) as monitor:
        model(x)
        monitor.write(1)
        with pytest.raises(ValueError, match=r"'act1'.*pairs=\{'act1': \('<producer>', '<consumer>'\)\}"):
            monitor.recycle(None)
        assert all(torch.equal(before[n], t) for n, t in snapshot(model)[0].items())  # nothing changed
        with pytest.raises(ValueError, match="pairs\\['act1'\\]: consumer 'act1' is a ReLU"):
            monitor.recycle(None, pairs={"act1": ("fc1", "act1")})
        assert monitor.recycle(None, pairs={"act1": ("fc1", "fc2")}) == {"act1": DEAD}
    assert torch.all(model.fc2.weight[:, DEAD] == 0) and torch.all(model.fc1.bias[DEAD] == 0)
    model = NotSequential()
    with DeadReluMonitor(model, str(tmp_path / "b"), pairs={"act1": ("fc1", "fc2")}) as monitor:
        model(x)
        monitor.write(1)
        assert monitor.recycle(None) == {"act1": DEAD}


def test_nested_sequential_neighbours(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.net = nn.Sequential(nn.Sequential(nn.Linear(4, 6), nn.ReLU()), nn.Sequential(nn.Linear(6, 2)))
            with torch.no_grad():
                self.net[0][0].bias.fill_(1.0)
                self.net[0][0].bias[DEAD] = -100.0

        def forward(self, x):
            return self.net(x)

    model = Net()
    x = symmetric_inputs(16, 4)
    with DeadReluMonitor(model, str(tmp_path)) as monitor:
        model(x)
        monitor.write(1)
        assert monitor.recycle(None) == {"net.0.1": DEAD}
    assert torch.all(model.net[1][0].weight[:, DEAD] == 0)


def test_report_and_overview_list_the_resets(tmp_path):
    logdir = tmp_path / "logs"
    model, optimizer, monitor, x = run_dead_mlp(logdir / "run")
    monitor.recycle(optimizer)
    model(x)
    monitor.write(2)
    monitor.recycle(optimizer)  # nothing dead any more: no record
    monitor.close()

    out = io.StringIO()
    assert cli.main(["report", str(logdir)], stdout=out, stderr=io.StringIO()) == 0
    text = out.getvalue()
    assert "recycled: run run, layer 1: 2 units at steps 1 (2)" in text
    assert "1/recycled" not in text.split("recycled: ")[0]  # not a layer row of its own
    out = io.StringIO()
    cli.main(["report", str(logdir), "--json"], stdout=out, stderr=io.StringIO())
    layers = {layer["layer"]: layer for layer in json.loads(out.getvalue())["layers"]}
    assert set(layers) == {"1", "3"}
    assert layers["1"]["recycled_units"] == 2 and layers["1"]["recycled_steps"] == [[1, 2]]
    assert layers["3"]["recycled_units"] == 0

    _, provider = data_provider(str(logdir))

    class Context:
        data_provider = provider
        sampling_hints = {}
        flags = None

    tb_plugin = plugin.DeadReluPlugin(Context())
    ctx = tb_context.RequestContext()
    tags = tb_plugin.tags_impl(ctx, "")
    assert tags["run"]["1/recycled"]["kind"] == "recycled" and tags["run"]["1/recycled"]["units"] == 6
    body = tb_plugin.overview_impl(ctx, "", "run", 0.99, 0.025)
    assert [layer["tag"] for layer in body["layers"]] == ["1", "3"]
    assert body["layers"][0]["recycled"] == [[1, DEAD]]
    assert "recycled" not in body["layers"][1]
    json.dumps(body)


def test_lightning_callback_recycles_after_each_record(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from torch.utils.data import DataLoader, TensorDataset

    from tensorboard_plugin_deadrelu.lightning import DeadReluCallback

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = mlp()

        def training_step(self, batch, batch_idx):
            x, y = batch
            return nn.functional.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    x = symmetric_inputs(16, 4)
    y = torch.zeros(16, dtype=torch.long)
    model = Tiny()
    callback = DeadReluCallback(recycle_tau=0.0)
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_epochs=2, logger=pl.loggers.TensorBoardLogger(str(tmp_path), name="logs"),
        callbacks=[callback], enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
    )
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=8))
    records = eventfiles.read_records(str(tmp_path))
    (run, _), = [key for key in records if key[1] == "net.1/recycled"]
    assert [(step, r.zeros.tolist()) for step, r in records[(run, "net.1/recycled")]] == [(2, [0, 1, 0, 1, 0, 0])]
    # Recycled after the first epoch's record: the second epoch's record finds them alive.
    assert [(step, r.dead[DEAD].tolist()) for step, r in records[(run, "net.1")]] == [(2, [True, True]), (4, [False, False])]
    with pytest.raises(ValueError, match="tau"):
        DeadReluCallback(recycle_tau=-1)


def test_heatmap_series_of_recycled_and_an_older_reader_skips_them_with_a_message(tmp_path, monkeypatch):
    from tensorboard_plugin_deadrelu.report import logdir_reader

    model, optimizer, monitor, x = run_dead_mlp(tmp_path / "run")
    monitor.recycle(optimizer)
    monitor.close()
    _, provider = data_provider(str(tmp_path))

    class Context:
        data_provider = provider
        sampling_hints = {}
        flags = None

    series = plugin.DeadReluPlugin(Context())._reader.series(tb_context.RequestContext(), "", "run", "1/recycled")
    assert series.kind == "recycled" and series.steps.tolist() == [1] and series.count.tolist() == [1]
    assert series.zeros.tolist() == [[0, 1, 0, 1, 0, 0]]
    # A reader that knows only activations and gradients (0.2) skips the series and says why.
    monkeypatch.setattr(metadata, "KNOWN_KINDS", (metadata.KIND_ACTIVATIONS, metadata.KIND_GRADIENTS))
    (contents,) = [logdir_reader.read_run(run, paths) for run, paths in logdir_reader.find_runs(str(tmp_path)).items()]
    old = {s.tag: s for s in contents.series}
    assert old["1"].steps.tolist() == [1]
    assert old["1/recycled"].steps.tolist() == []
    assert "record kind 'recycled' is not known to this reader" in old["1/recycled"].skipped[0].reason
