"""End to end: real ``tensorboard`` processes, the installed entry point, both loaders.

Four servers start in parallel over one logdir (a run of 300 epochs x 3 layers
and a run whose event file ends in the middle of a record): ``--load_fast=true``
and ``false`` with the plugin's default sampling, and both with an explicit
``--samples_per_plugin deadrelu=50``.
"""

import contextlib
import glob
import json
import os
import urllib.error
import urllib.request

import numpy as np
import pytest

from tensorboard_plugin_deadrelu import encoding, loader
from tests import eventfiles, tensorboard_process

EPOCHS = 300
LAYERS = {"dense_1": 5, "dense_2": 4, "dense_3": 3}
LIVE_STEPS = 6
STARTUP_TIMEOUT = 90.0
SERVERS = {
    "fast": ["--load_fast=true"],
    "slow": ["--load_fast=false"],
    "fast50": ["--load_fast=true", "--samples_per_plugin=deadrelu=50"],
    "slow50": ["--load_fast=false", "--samples_per_plugin=deadrelu=50"],
}


def zeros_truth(epoch, units):
    """The zero counts written for a layer at an epoch: unit u is dead once epoch >= 50 * (u + 1)."""
    return np.array([16 if epoch >= 50 * (u + 1) else (epoch + u) % 16 for u in range(units)])


def stats(epoch, units):
    zeros = zeros_truth(epoch, units)
    return {"count": 16, "zeros": zeros, "abs_sum": (16 - zeros) * 0.5, "nonfinite": np.zeros(units, np.int64)}


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    for tag, units in LAYERS.items():
        eventfiles.write_records(str(root / "net"), tag, [(e, stats(e, units)) for e in range(EPOCHS)])
    # A run being written right now: its last record is cut short.
    staging = tmp_path_factory.mktemp("staging")
    eventfiles.write_records(str(staging / "live"), "relu", [(s, stats(s, 2)) for s in range(LIVE_STEPS)])
    (complete_path,) = glob.glob(str(staging / "live" / "*tfevents*"))
    complete = open(complete_path, "rb").read()
    (root / "live").mkdir()
    live_path = root / "live" / os.path.basename(complete_path)
    live_path.write_bytes(complete[:-9])
    return root, live_path, complete


def get(base, path):
    """``(status, content type, body bytes)``; HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(base + path, timeout=30) as response:
            return response.status, response.headers.get("Content-Type"), response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def get_json(base, path):
    status, content_type, body = get(base, path)
    assert status == 200, body
    assert content_type.startswith("application/json")
    return json.loads(body)


@pytest.fixture(scope="module")
def servers(logdir, tmp_path_factory):
    root = logdir[0]
    logs = tmp_path_factory.mktemp("tb_logs")
    with contextlib.ExitStack() as stack:
        started = {
            name: stack.enter_context(
                tensorboard_process.running(root, "--reload_interval=1", *flags, log_path=logs / (name + ".log"))
            )
            for name, flags in SERVERS.items()
        }
        for name, tensorboard in started.items():
            # The fast loader's data server reads in the background: wait for every epoch.
            tensorboard_process.wait_until(
                lambda: all(t["last_step"] == EPOCHS - 1 for t in get_json(tensorboard.url, "/data/plugin/deadrelu/tags")["net"].values())
                and len(get_json(tensorboard.url, "/data/plugin/deadrelu/tags")["net"]) == len(LAYERS),
                "%s to load the run" % name,
                STARTUP_TIMEOUT,
                processes=[tensorboard.process],
            )
        yield {name: tensorboard.url for name, tensorboard in started.items()}


@pytest.mark.parametrize("name", ["fast", "slow"])
def test_listing_shows_the_enabled_tab(servers, name):
    listing = get_json(servers[name], "/data/plugins_listing")["deadrelu"]
    assert listing["enabled"] is True
    assert listing["tab_name"] == "Dead ReLU"
    status, content_type, body = get(servers[name], listing["loading_mechanism"]["module_path"])
    assert status == 200 and content_type.startswith("text/javascript") and body


@pytest.mark.parametrize("name", ["fast", "slow"])
def test_every_epoch_of_every_layer_comes_back(servers, name):
    base = servers[name]
    tags = get_json(base, "/data/plugin/deadrelu/tags")["net"]
    for tag, units in LAYERS.items():
        assert tags[tag]["units"] == units
        assert tags[tag]["steps"] == EPOCHS and tags[tag]["first_step"] == 0
        assert tags[tag]["downsampled"] is False
        assert tags[tag]["sample_limit"] == loader.DEFAULT_SAMPLES_PER_TAG
        body = get_json(base, "/data/plugin/deadrelu/heatmap?run=net&tag=" + tag)
        assert body["steps"] == list(range(EPOCHS))
        assert body["zeros"] == [zeros_truth(e, units).tolist() for e in range(EPOCHS)]
        assert body["abs_sum"] == [((16 - zeros_truth(e, units)) * 0.5).tolist() for e in range(EPOCHS)]
    _, _, raw = get(base, "/data/plugin/deadrelu/heatmap?run=net&tag=dense_1&format=binary&field=zeros")
    header, zeros = encoding.decode_binary(raw)
    assert header["dtype"] == "uint8"
    np.testing.assert_array_equal(zeros, [zeros_truth(e, 5) for e in range(EPOCHS)])
    overview = get_json(base, "/data/plugin/deadrelu/overview?run=net")
    dense_1 = overview["layers"][0]
    assert dense_1["tag"] == "dense_1" and dense_1["death_step"] == [50, 100, 150, 200, 250]
    assert dense_1["dead"] == [sum(e >= 50 * (u + 1) for u in range(5)) for e in range(EPOCHS)]


@pytest.mark.parametrize("name", ["fast50", "slow50"])
def test_explicit_samples_per_plugin_wins_and_is_reported(servers, name):
    tags = get_json(servers[name], "/data/plugin/deadrelu/tags")["net"]
    for tag in LAYERS:
        assert tags[tag]["steps"] == 50 and tags[tag]["last_step"] == EPOCHS - 1
        assert tags[tag]["sample_limit"] == 50 and tags[tag]["downsampled"] is True


@pytest.mark.parametrize("name", ["fast", "slow"])
def test_errors_through_a_real_server(servers, name):
    base = servers[name]
    for path, code in [
        ("heatmap?run=net", 400),
        ("heatmap?run=net&tag=nope", 404),
        ("overview?run=net&threshold=2", 400),
        ("static/..%2f..%2fsetup.py", 404),
    ]:
        status, content_type, body = get(base, "/data/plugin/deadrelu/" + path)
        assert (status, content_type.split(";")[0]) == (code, "application/json"), (path, body)
        assert "error" in json.loads(body)


def test_truncated_last_record_then_completed_while_serving(servers, logdir):
    _, live_path, complete = logdir
    for name in ("fast", "slow"):
        tags = get_json(servers[name], "/data/plugin/deadrelu/tags")["live"]["relu"]
        assert tags["steps"] == LIVE_STEPS - 1 and tags["skipped"] == 0
    with open(live_path, "ab") as f:
        f.write(complete[-9:])
    for name in ("fast", "slow"):
        tensorboard_process.wait_until(
            lambda: get_json(servers[name], "/data/plugin/deadrelu/tags")["live"]["relu"]["steps"] == LIVE_STEPS,
            "%s to show the completed record" % name,
            timeout=30,
        )
        body = get_json(servers[name], "/data/plugin/deadrelu/heatmap?run=live&tag=relu")
        assert body["zeros"][-1] == zeros_truth(LIVE_STEPS - 1, 2).tolist()
