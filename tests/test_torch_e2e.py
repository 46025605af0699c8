"""The PyTorch monitor end to end: its records served by a real TensorBoard (both
loaders), a torch.compile'd model, and a DistributedDataParallel wrapper."""

import contextlib
import gc
import json
import urllib.request

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from tensorboard_plugin_deadrelu.writing import summary  # noqa: E402
from tensorboard_plugin_deadrelu.torch import DeadReluMonitor  # noqa: E402
from tests import eventfiles, tensorboard_process  # noqa: E402

pytestmark = pytest.mark.slow  # starts processes: see tests/conftest.py

EPOCHS = 4


def small_net():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(3 * 4 * 4, 5), nn.ReLU(), nn.Linear(5, 2)
    )
    with torch.no_grad():
        model[3].bias[1] = -50.0  # dead from the start
    return model


def train_and_expect(model, monitor, loader):
    """Trains with lr 0, one write per epoch; returns the expected ``{tag: [zeros per epoch]}``."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    expected = {"1": [], "4": []}
    for epoch in range(1, EPOCHS + 1):
        sums = {tag: None for tag in expected}
        for x, y in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
            with torch.no_grad():
                conv = torch.relu(model[0](x))
                dense = torch.relu(model[3](conv.flatten(1)))
            for tag, value, channels_first in (("1", conv, True), ("4", dense, False)):
                batch = summary.reduce_activations_np(value.numpy(), channels_first=channels_first)
                sums[tag] = batch if sums[tag] is None else {k: sums[tag][k] + batch[k] for k in batch}
        monitor.write(step=epoch)
        for tag in expected:
            expected[tag].append(sums[tag]["zeros"].tolist())
    return expected


def loader(batches=3, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 1, 6, 6, generator=generator), torch.randint(0, 2, (8,), generator=generator))
            for _ in range(batches)]


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("torch_e2e")
    model = small_net()
    with DeadReluMonitor(model, root / "torch_run") as monitor:
        expected = train_and_expect(model, monitor, loader())
    return root, expected


@pytest.mark.parametrize("flags", [["--load_fast=true"], ["--load_fast=false"]])
def test_records_come_back_through_a_real_tensorboard(trained_run, flags):
    root, expected = trained_run
    with tensorboard_process.running(root, "--reload_interval=1", *flags) as tensorboard:
        tensorboard_process.wait_until(
            lambda: all(
                t["last_step"] == EPOCHS
                for t in get_json(tensorboard.url + tensorboard_process.TAGS_ROUTE)["torch_run"].values()
            ),
            "TensorBoard to load the run",
            90,
            processes=[tensorboard.process],
        )
        tags = get_json(tensorboard.url + tensorboard_process.TAGS_ROUTE)["torch_run"]
        assert {tag: (t["units"], t["order"], t["kind"]) for tag, t in tags.items()} == {
            "1": (3, 0, "activations"),
            "4": (5, 1, "activations"),
        }
        for tag in ("1", "4"):
            body = get_json(tensorboard.url + "/data/plugin/deadrelu/heatmap?run=torch_run&tag=" + tag)
            assert body["steps"] == list(range(1, EPOCHS + 1))
            assert body["zeros"] == expected[tag]
        body = get_json(tensorboard.url + "/data/plugin/deadrelu/heatmap?run=torch_run&tag=4")
        assert body["count"] == [24] * EPOCHS
        assert [row[1] for row in body["zeros"]] == [24] * EPOCHS  # the dead unit


def test_a_compiled_model_counts_like_the_eager_one(tmp_path):
    eager, compiled = small_net(), torch.compile(small_net())
    data = loader(batches=2)
    results = {}
    for name, model in (("eager", eager), ("compiled", compiled)):
        monitor = DeadReluMonitor(model, tmp_path / name)
        assert monitor.tags == ["1", "4"]  # not "_orig_mod.1"
        for x, _ in data:
            model(x).sum().backward()
        monitor.write(1)
        monitor.close()
        results[name] = {tag: items[0][1] for (_, tag), items in eventfiles.read_records(str(tmp_path / name)).items()}
    for tag in ("1", "4"):
        np.testing.assert_array_equal(results["compiled"][tag].zeros, results["eager"][tag].zeros)
        assert results["compiled"][tag].count == results["eager"][tag].count == (2 * 8 * 16 if tag == "1" else 16)


@contextlib.contextmanager
def single_process_group():
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method="tcp://127.0.0.1:%d" % tensorboard_process.free_port(), rank=0, world_size=1
    )
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_a_ddp_wrapper_gives_the_inner_modules_tags(tmp_path):
    model = small_net()
    with single_process_group():
        wrapped = nn.parallel.DistributedDataParallel(model)
        with DeadReluMonitor(wrapped, tmp_path) as monitor:
            assert monitor.tags == ["1", "4"]
            wrapped(loader(batches=1)[0][0]).sum().backward()
            monitor.write(1)
            monitor.probe(torch.randn(3, 1, 6, 6), 2)  # through the inner model
        assert wrapped.training
        # The wrapper's reducer holds the process group: freed after the group
        # was destroyed, its gloo destructor waited forever on its threads.
        del wrapped, monitor
        gc.collect()
    counts = {tag: [(s, r.count) for s, r in items] for (_, tag), items in eventfiles.read_records(str(tmp_path)).items()}
    assert counts == {"1": [(1, 8 * 16), (2, 3 * 16)], "4": [(1, 8), (2, 3)]}
