"""The native PyTorch DeadReluMonitor: counts, probes and gradients against numpy and
torch.autograd, records read back from the event files it writes."""

import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from tensorboard.util import tensor_util  # noqa: E402

from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.writing import summary  # noqa: E402
from tensorboard_plugin_deadrelu.torch import DeadReluMonitor, is_relu_family  # noqa: E402
from tensorboard_plugin_deadrelu.writing import monitor as record_loop  # noqa: E402
from tests import eventfiles  # noqa: E402
from tests.oracle import assert_record  # noqa: E402


def records(logdir, run="."):
    """``{tag: [(step, Record)]}`` of one run."""
    return {tag: items for (r, tag), items in eventfiles.read_records(str(logdir)).items() if r == run}


def scalars(logdir):
    found = {}
    for _, event in eventfiles.read_events(str(logdir)):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "scalars":
                found.setdefault(value.tag, []).append((event.step, float(tensor_util.make_ndarray(value.tensor))))
    return found


def assert_record_equals(record, expected):
    """``record`` holds numpy sums ``expected``; abs_sum to the float32 tolerance of the torch monitor."""
    assert_record(record, expected, rtol=1e-5, atol=0)


def add_sums(total, sums):
    return dict(sums) if total is None else {k: total[k] + sums[k] for k in total}


class MLP(nn.Module):
    """Two hidden ReLU layers (the second in-place), the first one called by name."""

    def __init__(self):
        super().__init__()
        self.fc1, self.act1 = nn.Linear(6, 16), nn.ReLU()
        self.fc2, self.act2 = nn.Linear(16, 12), nn.ReLU(inplace=True)
        self.head = nn.Linear(12, 3)

    def forward(self, x):
        return self.head(self.act2(self.fc2(self.act1(self.fc1(x)))))

    def hidden(self, x):
        """The two hidden outputs as numpy, computed without the hooked modules."""
        with torch.no_grad():
            h1 = torch.relu(self.fc1(x))
            return h1.numpy(), torch.relu(self.fc2(h1)).numpy()


def make_mlp(seed=0):
    torch.manual_seed(seed)
    model = MLP()
    with torch.no_grad():
        model.fc1.bias.sub_(0.5)  # some units off on most inputs, one never on
        model.fc2.bias[0] = -100.0
    return model


def batches(count, rows=32, features=6, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(rows, features, generator=generator), torch.randint(0, 3, (rows,), generator=generator))
            for _ in range(count)]


def test_exact_counts_over_batches_with_lr_0_eval_passes_not_counted(tmp_path):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    data = batches(5) + [(torch.randn(7, 6), torch.zeros(7, dtype=torch.long))]  # a partial last batch
    monitor = DeadReluMonitor(model, tmp_path)
    assert monitor.tags == ["act1", "act2"]
    expected = [None, None]
    for epoch in (1, 2):
        for x, y in data:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
            for i, h in enumerate(model.hidden(x)):
                expected[i] = add_sums(expected[i], summary.reduce_activations_np(h))
        model.eval()
        model(data[0][0])  # not counted: eval mode
        model.train()
        with torch.no_grad():  # counted: training mode, whatever the grad mode
            model(data[1][0])
        for i, h in enumerate(model.hidden(data[1][0])):
            expected[i] = add_sums(expected[i], summary.reduce_activations_np(h))
        shares = monitor.write(step=epoch)
        written = records(tmp_path)
        for i, tag in enumerate(["act1", "act2"]):
            step, record = written[tag][-1]
            assert step == epoch
            assert_record_equals(record, expected[i])
            assert shares[tag] == pytest.approx(np.mean(record.dead))
        assert written["act2"][-1][1].dead[0]  # the unit with bias -100
        expected = [None, None]
    monitor.close()
    assert scalars(tmp_path)["deadrelu/act1/dead_fraction"][-1][0] == 2
    orders = {tag: c.order for tag, c in eventfiles.plugin_contents(str(tmp_path)).items()}
    assert orders == {"act1": 0, "act2": 1}


class Shared(nn.Module):
    """One ReLU module called twice per forward."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.relu = nn.Linear(4, 5), nn.Linear(5, 5), nn.ReLU()

    def forward(self, x):
        return self.relu(self.b(self.relu(self.a(x))))


def test_a_module_called_twice_counts_both_calls(tmp_path):
    torch.manual_seed(3)
    model = Shared()
    x = torch.randn(9, 4)
    with DeadReluMonitor(model, tmp_path) as monitor:
        model(x)
        monitor.write(0)
    with torch.no_grad():
        first = torch.relu(model.a(x))
        second = torch.relu(model.b(first))
    expected = add_sums(summary.reduce_activations_np(first.numpy()), summary.reduce_activations_np(second.numpy()))
    (step, record), = records(tmp_path)["relu"]
    assert_record_equals(record, expected)
    assert record.count == 18


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(4, 5, 3), nn.ReLU6(inplace=True),
        )
        self.seq = nn.Conv1d(5, 3, 2)
        self.seq_act = nn.Hardswish()
        self.gelu = nn.GELU()

    def forward(self, x):
        h = self.features(x)                        # N, 5, 4, 4
        s = self.seq_act(self.seq(h.flatten(2)))    # Conv1d: N, 3, 15
        return self.gelu(s).mean((1, 2))


def test_conv_net_in_place_relus_channels_and_a_conv1d_override(tmp_path):
    torch.manual_seed(4)
    model = ConvNet()
    x = torch.randn(6, 2, 6, 6)
    monitor = DeadReluMonitor(model, tmp_path, units_dims={"seq_act": 1})
    assert monitor.tags == ["features.1", "features.3", "seq_act"]
    assert not is_relu_family(model.gelu)
    model(x).sum().backward()
    monitor.write(1)
    monitor.close()
    with torch.no_grad():
        h1 = torch.relu(model.features[0](x))
        h2 = torch.clamp(model.features[2](h1), 0, 6)
        s = nn.functional.hardswish(model.seq(h2.flatten(2)))
    written = records(tmp_path)
    for tag, value in (("features.1", h1), ("features.3", h2), ("seq_act", s)):
        (_, record), = written[tag]
        assert_record_equals(record, summary.reduce_activations_np(value.numpy(), channels_first=True))
    assert written["features.1"][0][1].count == 6 * 6 * 6
    assert written["seq_act"][0][1].units == 3


def test_nan_and_inf_are_counted_not_summed(tmp_path):
    model = nn.Sequential(nn.ReLU())
    x = torch.tensor([[1.0, float("nan"), 0.0], [float("inf"), 2.0, -1.0], [3.0, 0.0, -0.0]])
    with DeadReluMonitor(model, tmp_path) as monitor:
        model(x)
        model(torch.ones(2, 3))  # finite batch: the fast path adds to the same sums
        monitor.write(0)
    (_, record), = records(tmp_path)["0"]
    expected = add_sums(summary.reduce_activations_np(torch.relu(x).numpy()), summary.reduce_activations_np(np.ones((2, 3))))
    assert_record_equals(record, expected)
    np.testing.assert_array_equal(record.nonfinite, [1, 1, 0])


def test_a_module_that_saw_nothing_gets_a_count_0_record_and_no_scalar(tmp_path):
    model = make_mlp()
    with DeadReluMonitor(model, tmp_path) as monitor:
        assert monitor.write(0) == {}  # nothing seen yet: widths unknown, no records
        model(torch.randn(4, 6))
        monitor.write(1)
        model.eval()
        model(torch.randn(4, 6))
        assert monitor.write(2) == {}
    written = records(tmp_path)
    assert [(step, r.count, r.units) for step, r in written["act1"]] == [(1, 4, 16), (2, 0, 16)]
    assert [step for step, _ in scalars(tmp_path)["deadrelu/act1/dead_fraction"]] == [1]


def expected_gradients(model, x, y):
    """d(sum of per-example losses)/d(pre-activation) of act1 and act2 through torch.autograd."""
    z1 = model.fc1(x)
    z2 = model.fc2(torch.relu(z1))
    loss = nn.functional.cross_entropy(model.head(torch.relu(z2)), y, reduction="sum")
    return [g.numpy() for g in torch.autograd.grad(loss, [z1, z2])]


def test_probe_records_activations_and_gradients_like_autograd(tmp_path):
    model = make_mlp()
    model.add_module("drop", nn.Dropout(0.5))  # in eval mode during the probe
    x, y = batches(1, rows=1500)[0]  # two probe chunks (1024 + 476 rows)
    for p in model.parameters():
        p.grad = None
    monitor = DeadReluMonitor(model, tmp_path)
    model.train()
    model.fc1.train(False)  # a mixed mode must come back as it was
    shares = monitor.probe(x, step=0, targets=y, loss_fn=nn.CrossEntropyLoss())
    assert model.training and not model.fc1.training and model.act1.training
    assert all(p.grad is None for p in model.parameters())
    assert monitor.write(1) == {}  # the probe did not add to the training sums
    monitor.close()
    written = records(tmp_path)
    hidden = model.hidden(x)
    gradients = expected_gradients(model, x, y)
    for i, tag in enumerate(["act1", "act2"]):
        (step, record), (_, empty) = written[tag]  # write(1) after the probe: nothing counted
        assert step == 0 and empty.count == 0
        assert_record_equals(record, summary.reduce_activations_np(hidden[i]))
        assert shares[tag] == pytest.approx(np.mean(record.dead))
        (_, grad_record), = written[metadata.gradients_tag(tag)]
        expected = summary.reduce_activations_np(gradients[i])
        np.testing.assert_array_equal(grad_record.zeros, expected["zeros"])
        np.testing.assert_allclose(grad_record.abs_sum, expected["abs_sum"], rtol=1e-4)
        assert grad_record.count == 1500
    assert written["act2/gradients"][0][1].dead[0]  # the dead unit gets no gradient
    kinds = {tag: c.kind for tag, c in eventfiles.plugin_contents(str(tmp_path)).items()}
    assert kinds["act1/gradients"] == metadata.KIND_GRADIENTS


def test_probe_gradients_through_the_activation_only_with_a_skip_and_in_place_relu(tmp_path):
    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.relu, self.out = nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 1)

        def forward(self, x):
            z = self.fc(x)
            skip = z * 2.0
            return self.out(self.relu(z.clone()) + skip)  # clone: the skip reads z as it was

    torch.manual_seed(5)
    model = Skip()
    x, y = torch.randn(10, 3), torch.randn(10, 1)
    with DeadReluMonitor(model, tmp_path) as monitor:
        monitor.probe(x, 0, targets=y, loss_fn=lambda out, target: ((out - target) ** 2).sum(1))
    z = model.fc(x)
    a = torch.relu(z)
    loss = ((model.out(a + 2.0 * z.detach()) - y) ** 2).sum()  # the gradient through the relu alone
    (expected,) = torch.autograd.grad(loss, [z])
    (_, record), = records(tmp_path)["relu/gradients"]
    assert_record_equals(record, summary.reduce_activations_np(expected.detach().numpy()))


def test_into_an_existing_summary_writer(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    model = make_mlp()
    user_writer = SummaryWriter(str(tmp_path))
    with DeadReluMonitor(model, writer=user_writer) as monitor:
        model(torch.randn(5, 6))
        user_writer.add_scalar("loss", 0.25, 1)
        monitor.write(1)
    user_writer.add_scalar("loss", 0.125, 2)  # the monitor left the user's writer open
    user_writer.close()
    assert len(list(tmp_path.glob("*tfevents*"))) == 1
    assert set(records(tmp_path)) == {"act1", "act2"}
    assert scalars(tmp_path)["loss"] == [(1, 0.25), (2, 0.125)]


def test_close_removes_the_hooks(tmp_path):
    model = make_mlp()
    hooks_before = len(model.act1._forward_hooks)
    monitor = DeadReluMonitor(model, tmp_path)
    assert len(model.act1._forward_hooks) == hooks_before + 1
    monitor.close()
    monitor.close()
    assert len(model.act1._forward_hooks) == hooks_before
    with pytest.raises(ValueError, match="closed"):
        monitor.write(5)


def test_steps_must_increase_across_write_and_probe(tmp_path):
    model = make_mlp()
    with DeadReluMonitor(model, tmp_path) as monitor:
        monitor.probe(torch.randn(3, 6), 2)
        with pytest.raises(ValueError, match="greater than the last written step 2, got 2"):
            monitor.write(2)
        with pytest.raises(ValueError, match="step must be an int >= 0"):
            monitor.write(-1)
        monitor.write(3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"modules": ["fc9"]}, "modules: 'fc9' is not a module of the model"),
        ({"modules": []}, "modules must name at least one module"),
        ({"modules": [nn.ReLU()]}, "is not a submodule of the model"),
        ({"units_dims": {"head": 1}}, "units_dims: 'head' is not a watched module"),
        ({"units_dims": {"act1": "last"}}, "units_dims\\['act1'\\] must be an int"),
        ({"warn_above": 1.5}, "warn_above must be None or a fraction"),
        ({"stop_above": True}, "stop_above must be None or a fraction"),
    ],
)
def test_bad_arguments_name_themselves(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        DeadReluMonitor(make_mlp(), tmp_path, **kwargs)


def dying_mlp(dead_in_act1):
    """An MLP whose ``act1`` units all fire on inputs in [0, 1), but the first ``dead_in_act1`` (bias -100)."""
    model = make_mlp()
    with torch.no_grad():
        model.fc1.weight.abs_()
        model.fc1.bias.fill_(1.0)
        model.fc1.bias[:dead_in_act1] = -100.0
    return model


def test_warn_above_logs_once_per_crossing_and_stop_above_sets_should_stop(tmp_path, caplog):
    model = dying_mlp(0)
    x = torch.rand(32, 6)
    with caplog.at_level(logging.WARNING, logger=record_loop.__name__):
        with DeadReluMonitor(model, tmp_path, modules=["act1"], warn_above=0.2, stop_above=0.5) as monitor:
            model.train()
            model(x)
            shares = monitor.write(1)
            assert shares["act1"] == 0.0 and not monitor.should_stop
            with torch.no_grad():
                model.fc1.bias[:4] = -100.0  # 4 of 16 units: 25%, above warn_above only
            model(x)
            assert monitor.write(2)["act1"] == 0.25 and not monitor.should_stop
            model(x)
            monitor.write(3)  # still above: no second warning
            with torch.no_grad():
                model.fc1.bias[:9] = -100.0  # 9 of 16: above stop_above
            model(x)
            assert monitor.write(4)["act1"] == 9 / 16
            assert monitor.should_stop
    messages = [r.getMessage() for r in caplog.records if r.name == record_loop.__name__]
    assert messages == [
        "DeadReluMonitor: layer 'act1' has 25.0% dead units (4 of 16) at step 2, more than warn_above=0.2",
        "DeadReluMonitor: layer 'act1' has 56.2% dead units (9 of 16) at step 4, more than stop_above=0.5; "
        "stopping training",
    ]


def test_a_model_without_relu_modules_points_at_f_relu(tmp_path):
    with pytest.raises(ValueError, match="F.relu inside forward\\(\\) is not a module"):
        DeadReluMonitor(nn.Sequential(nn.Linear(2, 2), nn.Tanh()), tmp_path)
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
        DeadReluMonitor(lambda x: x, tmp_path)


def test_named_modules_and_the_leaky_relu_family_rule(tmp_path):
    model = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.LeakyReLU(0.0), nn.Threshold(0.5, 0.0), nn.Threshold(0.5, 1.0))
    assert DeadReluMonitor(model, tmp_path / "a").tags == ["2", "3"]
    assert DeadReluMonitor(model, tmp_path / "b", modules=["1", model[0]]).tags == ["0", "1"]


def test_bad_probe_arguments(tmp_path):
    model = make_mlp()
    with DeadReluMonitor(model, tmp_path) as monitor:
        with pytest.raises(ValueError, match="loss_fn is needed with targets"):
            monitor.probe(torch.randn(4, 6), 0, targets=torch.zeros(4, dtype=torch.long))
        with pytest.raises(ValueError, match="targets must have the 4 rows of x, got 3"):
            monitor.probe(torch.randn(4, 6), 0, targets=torch.zeros(3, dtype=torch.long), loss_fn=nn.CrossEntropyLoss())
        with pytest.raises(ValueError, match="x must be a tensor"):
            monitor.probe([[1.0] * 6], 0)
        assert model.training


def test_an_output_without_a_default_units_axis_names_units_dims(tmp_path):
    model = nn.Sequential(nn.ReLU())
    with DeadReluMonitor(model, tmp_path):
        with pytest.raises(ValueError, match="units_dims=\\{'0': axis\\}"):
            model(torch.randn(5))


def test_gradient_records_need_activation_modules(tmp_path):
    model = make_mlp()
    with DeadReluMonitor(model, tmp_path, modules=["act1", "fc2"]) as monitor:
        with pytest.raises(ValueError, match="targets: module 'fc2' \\(Linear\\) is not an elementwise activation"):
            monitor.probe(torch.randn(4, 6), 0, targets=torch.zeros(4, dtype=torch.long), loss_fn=nn.CrossEntropyLoss())


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_other_float_dtypes_count_exactly(tmp_path, dtype):
    model = nn.Sequential(nn.ReLU())
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(6)).to(dtype)
    with DeadReluMonitor(model, tmp_path) as monitor:
        model(x)
        monitor.write(0)
    (_, record), = records(tmp_path)["0"]
    expected = summary.reduce_activations_np(torch.relu(x).to(torch.float64).numpy())
    np.testing.assert_array_equal(record.zeros, expected["zeros"])
    # float64 sums in float64 (then stored as float32); bfloat16 values are summed in float32.
    np.testing.assert_allclose(record.abs_sum, expected["abs_sum"], rtol=1e-6)
