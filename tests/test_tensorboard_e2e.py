"""End to end: real ``tensorboard`` processes, the installed entry point, both loaders.

Four servers start in parallel over one logdir (a run of 300 epochs x 3 layers,
a run whose event file ends in the middle of a record, and a resumed job whose
second event file restarts below the first's last step): ``--load_fast=true``
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

from tensorboard_plugin_deadrelu.server import options
from tensorboard_plugin_deadrelu.server import encoding
from tensorboard_plugin_deadrelu.server import loader
from tensorboard_plugin_deadrelu.report import cli as report
from tests import eventfiles, tensorboard_process

pytestmark = pytest.mark.slow  # starts processes: see tests/conftest.py

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


RESUMED_UNITS = 16


def resumed_stats():
    """The resumed job's records: every unit of the layer dead."""
    return {"count": 16, "zeros": np.full(RESUMED_UNITS, 16), "abs_sum": np.zeros(RESUMED_UNITS), "nonfinite": np.zeros(RESUMED_UNITS, np.int64)}


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
    # A resumed job: the first file reached step 40; the job restarted from a checkpoint of
    # step 19 and its second file (written later) holds steps 20..29, every unit dead.
    eventfiles.write_records(str(root / "resumed"), "relu", [(s, stats(s, RESUMED_UNITS)) for s in range(41)])
    eventfiles.write_records(
        str(root / "resumed"), "relu", [(s, resumed_stats()) for s in range(20, 30)], wall_time_offset=10_000
    )
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
        assert tags[tag]["units"] == units and tags[tag]["last_step"] == EPOCHS - 1
        assert tags[tag]["last_wall_time"] == 1_600_000_000.0 + EPOCHS - 1
        assert tags[tag]["sample_limit"] == options.DEFAULT_SAMPLES_PER_TAG
        body = get_json(base, "/data/plugin/deadrelu/heatmap?run=net&tag=" + tag)
        assert body["first_step"] == 0 and body["downsampled"] is False
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
        assert tags[tag]["last_step"] == EPOCHS - 1 and tags[tag]["sample_limit"] == 50
        body = get_json(servers[name], "/data/plugin/deadrelu/heatmap?run=net&tag=" + tag)
        assert len(body["steps"]) == 50 and body["last_step"] == EPOCHS - 1
        assert body["sample_limit"] == 50 and body["downsampled"] is True


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
        body = get_json(servers[name], "/data/plugin/deadrelu/heatmap?run=live&tag=relu")
        assert len(body["steps"]) == LIVE_STEPS - 1 and body["skipped"] == []
    with open(live_path, "ab") as f:
        f.write(complete[-9:])
    for name in ("fast", "slow"):
        tensorboard_process.wait_until(
            lambda: get_json(servers[name], "/data/plugin/deadrelu/tags")["live"]["relu"]["last_step"] == LIVE_STEPS - 1,
            "%s to show the completed record" % name,
            timeout=30,
        )
        body = get_json(servers[name], "/data/plugin/deadrelu/heatmap?run=live&tag=relu")
        assert body["zeros"][-1] == zeros_truth(LIVE_STEPS - 1, 2).tolist()


@pytest.mark.parametrize("name", ["fast", "slow"])
def test_resumed_job_the_later_file_wins_under_both_loaders_and_in_the_report(servers, logdir, name):
    """First file: steps 0..40; second file: restarts at 20, stops at 29. The heatmap, the
    overview and ``deadrelu report`` all say steps 0..29, 20..29 from the second file."""
    base = servers[name]
    body = get_json(base, "/data/plugin/deadrelu/heatmap?run=resumed&tag=relu")
    assert body["steps"] == list(range(30)) and body["skipped"] == []
    assert body["zeros"][:20] == [zeros_truth(s, RESUMED_UNITS).tolist() for s in range(20)]
    assert body["zeros"][20:] == [[16] * RESUMED_UNITS] * 10
    overview = get_json(base, "/data/plugin/deadrelu/overview?run=resumed")
    (layer,) = overview["layers"]
    assert layer["steps"] == list(range(30)) and layer["dead"][-1] == RESUMED_UNITS
    reported = [l for l in report.build_report(str(logdir[0]))["layers"] if l["run"] == "resumed"]
    assert [(l["latest_step"], l["dead_now"]) for l in reported] == [(29, RESUMED_UNITS)]
