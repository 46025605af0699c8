"""The plugin's HTTP routes through TensorBoard's own WSGI app and werkzeug's test client.

Event files are real (numpy writer, and one file from the TF summary op); every
number is compared exactly with counts computed here from the activations.
"""

import argparse
import dataclasses
import json
import os

import numpy as np
import pytest
from werkzeug import test as werkzeug_test

from tensorboard import program
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester
from tensorboard.plugins import base_plugin
from tensorboard.plugins.core import core_plugin
from tensorboard.util import tensor_util

from tensorboard_plugin_deadrelu.server import options
from tensorboard_plugin_deadrelu.core import analysis
from tensorboard_plugin_deadrelu.server import caching
from tensorboard_plugin_deadrelu.server import encoding
from tensorboard_plugin_deadrelu.server import loader
from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.server import plugin
from tensorboard_plugin_deadrelu.writing import summary
from tensorboard_plugin_deadrelu.core import series as series_lib
from tensorboard_plugin_deadrelu.server import reader as reader_lib
from tests import eventfiles
from tests.provider_fixtures import CountingProvider, data_provider, dying_activations, record_sums

ROOT = "/data/plugin/deadrelu/"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNITS = {"dense_1": 6, "dense_2": 5, "dense_10": 3}
STEPS = 7


def activations(rng, step, units, batch=20):
    """Unit u outputs exactly zero on every input from step u on; unit 0 also on half the inputs."""
    x = dying_activations(rng, step, units, batch)
    x[: batch // 2, 0] = 0.0
    return x


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    """A run "net" with three layers (model order given for two) and a run with bad records."""
    root = tmp_path_factory.mktemp("logs")
    rng = np.random.default_rng(7)
    acts = {tag: [activations(rng, step, units) for step in range(STEPS)] for tag, units in UNITS.items()}
    order = {"dense_10": 0, "dense_2": 1}  # dense_1 has no order: it comes last
    events = []
    for step in range(STEPS):
        for tag in UNITS:
            stats = summary.reduce_activations_np(acts[tag][step])
            summary_pb = summary.stats_pb(tag, description="layer " + tag, **stats)
            summary_pb.value[0].metadata.CopyFrom(
                metadata.create_summary_metadata("layer " + tag, order=order.get(tag), units=UNITS[tag])
            )
            events.append((step, summary_pb))
    eventfiles.write_summaries(str(root / "net"), events)

    bad = []
    for step in range(4):
        if step == 2:
            tensor = tensor_util.make_tensor_proto(np.array([1.0, 2.0]))
        else:
            tensor = tensor_util.make_tensor_proto(metadata.encode_record(4, np.array([4, step]), np.ones(2), np.zeros(2)))
        s = summary.stats_pb("bad", 1, [0], [0.0], [0])
        s.value[0].tensor.CopyFrom(tensor)
        bad.append((step, s))
    eventfiles.write_summaries(str(root / "broken"), bad)
    return str(root), acts


def make_client(logdir_path, sampling_hints=None):
    multiplexer, provider = data_provider(logdir_path)
    context = base_plugin.TBContext(
        logdir=logdir_path,
        data_provider=provider,
        sampling_hints=sampling_hints if sampling_hints is not None else {"deadrelu": 2000},
    )
    app = application.TensorBoardWSGI([loader.DeadReluLoader().load(context)], data_provider=provider)
    return werkzeug_test.Client(app), multiplexer


@pytest.fixture(scope="module")
def client(logdir):
    return make_client(logdir[0])[0]


def get_json(client, path, status=200):
    response = client.get(ROOT + path)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return json.loads(response.get_data())


def get_listing(client):
    response = client.get("/data/plugins_listing")
    assert response.status_code == 200
    return json.loads(response.get_data())


# --------------------------------------------------------------------------
# tags, heatmap, overview


def test_tags_lists_every_layer_from_the_listing_alone(client):
    body = get_json(client, "tags")
    assert body["net"]["dense_2"] == {
        "units": 5,
        "last_step": STEPS - 1,
        "last_wall_time": 1_600_000_000.0 + STEPS - 1,
        "description": "layer dense_2",
        "kind": "activations",
        "order": 1,
        "sample_limit": 2000,
    }
    assert list(body["net"]) == ["dense_1", "dense_2", "dense_10"]  # natural order
    assert body["broken"]["bad"]["last_step"] == 3


def counting_client(logdir_path, cache_mb=None):
    """``(client, CountingProvider)`` over ``logdir_path`` (Python loader, every step kept)."""
    _, inner = data_provider(logdir_path)
    counting = CountingProvider(inner)
    flags = argparse.Namespace(deadrelu_cache_mb=cache_mb) if cache_mb is not None else None
    context = base_plugin.TBContext(data_provider=counting, sampling_hints={"deadrelu": 0}, flags=flags)
    plugin_instance = loader.DeadReluLoader().load(context)
    app = application.TensorBoardWSGI([plugin_instance], data_provider=counting)
    return werkzeug_test.Client(app), counting, plugin_instance


def test_opening_reads_no_record_and_a_layer_is_read_when_asked_for(logdir):
    opened, counting, _ = counting_client(logdir[0])
    tags = get_json(opened, "tags")
    assert tags["net"]["dense_10"]["units"] == 3
    assert counting.reads == []  # units come from the plugin content
    get_json(opened, "heatmap?run=net&tag=dense_2")
    assert counting.read_tags() == {("net", "dense_2")}
    get_json(opened, "overview?run=net")  # the whole run: the two layers not read yet, in one call
    assert counting.reads[1:] == [(("net",), ("dense_1", "dense_10"), reader_lib.READ_EVERYTHING)]
    get_json(opened, "overview?run=net")
    assert len(counting.reads) == 2  # per-layer summaries are cached


def test_records_written_by_0_1_0_without_units_are_listed_from_one_record(tmp_path):
    rng = np.random.default_rng(8)
    xs = [activations(rng, step, 4) for step in range(5)]
    old_content = json.dumps({"kind": "activations", "version": 1}, sort_keys=True).encode()  # 0.1.0's header
    summaries = []
    for step, x in enumerate(xs):
        pb = summary.activations_pb("old", x)
        pb.value[0].metadata.plugin_data.content = old_content
        summaries.append((step, pb))
    eventfiles.write_summaries(str(tmp_path / "run"), summaries)
    opened, counting, _ = counting_client(str(tmp_path))
    assert get_json(opened, "tags")["run"]["old"]["units"] == 4
    assert counting.reads == [(("run",), ("old",), 1)]  # one record: the newest
    assert get_json(opened, "tags")["run"]["old"]["units"] == 4
    assert len(counting.reads) == 1  # cached for this data version
    body = get_json(opened, "heatmap?run=run&tag=old")
    assert body["zeros"] == [record_sums(x)["zeros"].tolist() for x in xs]


def test_heatmap_json_equals_numpy_counts(client, logdir):
    _, acts = logdir
    body = get_json(client, "heatmap?run=net&tag=dense_1")
    assert body["run"] == "net" and body["tag"] == "dense_1" and body["units"] == 6
    assert body["steps"] == list(range(STEPS))
    assert body["wall_times"] == [1_600_000_000.0 + s for s in range(STEPS)]
    assert body["description"] == "layer dense_1"
    assert body["skipped"] == [] and body["downsampled"] is False and body["sample_limit"] == 2000
    assert body["first_step"] == 0 and body["last_step"] == STEPS - 1 and body["kind"] == "activations"
    for step, x in enumerate(acts["dense_1"]):
        t = record_sums(x)
        assert body["count"][step] == t["count"]
        assert body["zeros"][step] == t["zeros"].tolist()
        assert body["nonfinite"][step] == t["nonfinite"].tolist()
        # float32 on disk, sent as the exact float64 value of that float32
        assert body["abs_sum"][step] == t["abs_sum"].astype(np.float64).tolist()


@pytest.mark.parametrize("field", encoding.BINARY_FIELDS)
def test_heatmap_binary_equals_numpy_counts(client, logdir, field):
    _, acts = logdir
    response = client.get(ROOT + "heatmap?run=net&tag=dense_2&format=binary&field=" + field)
    assert response.status_code == 200 and response.mimetype == "application/octet-stream"
    body = response.get_data()
    header, array = encoding.decode_binary(body)
    assert header["field"] == field and header["shape"] == [STEPS, 5]
    assert header["dtype"] == ("float32" if field == "abs_sum" else "uint8")  # count 20 fits a byte
    assert header["steps"] == list(range(STEPS)) and header["count"] == [20] * STEPS
    assert not {"zeros", "abs_sum", "nonfinite"} & set(header)
    header_length = int.from_bytes(body[:4], "little")
    start = 4 + header_length + (-(4 + header_length) % 8)
    assert start % 8 == 0 and body[4 + header_length : start] == b"\0" * (start - 4 - header_length)
    assert len(body) - start == STEPS * 5 * array.dtype.itemsize
    expected = np.stack([record_sums(x)[field] for x in acts["dense_2"]])
    np.testing.assert_array_equal(array, expected)


def test_overview_counts_and_model_order(client, logdir):
    _, acts = logdir
    body = get_json(client, "overview?run=net&threshold=0.5&tau=0.3")
    assert body["run"] == "net" and body["threshold"] == 0.5 and body["tau"] == 0.3
    assert [layer["tag"] for layer in body["layers"]] == ["dense_10", "dense_2", "dense_1"]
    assert [layer["order"] for layer in body["layers"]] == [0, 1, None]
    for layer in body["layers"]:
        zeros = np.stack([record_sums(x)["zeros"] for x in acts[layer["tag"]]])
        abs_sum = np.stack([record_sums(x)["abs_sum"] for x in acts[layer["tag"]]]).astype(np.float64)
        means = abs_sum / 20
        layer_mean = means.mean(axis=1, keepdims=True)
        # A layer that output only zeros at a step: every unit is dormant (score 0).
        scores = np.divide(means, layer_mean, out=np.zeros_like(means), where=layer_mean > 0)
        assert layer["dormant"] == (scores <= 0.3).sum(axis=1).tolist()
        count = 20
        dead = zeros == count
        assert layer["units"] == UNITS[layer["tag"]]
        assert layer["steps"] == list(range(STEPS)) and layer["count"] == [count] * STEPS
        assert layer["dead"] == dead.sum(axis=1).tolist()
        assert layer["nearly_dead"] == (zeros >= 0.5 * count).sum(axis=1).tolist()
        assert layer["still_dead"] == (dead & dead[-1]).sum(axis=1).tolist()
        # at step s units 0..s-1 output only zeros, so unit u is dead from step u + 1 on
        assert layer["death_step"] == [u + 1 if u + 1 < STEPS else None for u in range(layer["units"])]
        assert layer["revived"] == [False] * layer["units"]


def test_overview_per_unit_0_leaves_out_only_the_per_unit_lists(client):
    full = get_json(client, "overview?run=net&threshold=0.5&tau=0.3")
    lean = get_json(client, "overview?run=net&threshold=0.5&tau=0.3&per_unit=0")
    assert get_json(client, "overview?run=net&threshold=0.5&tau=0.3&per_unit=1") == full
    for layer in full["layers"]:
        assert len(layer["death_step"]) == len(layer["revived"]) == layer["units"]
        del layer["death_step"], layer["revived"]
    assert lean == full


def test_overview_default_threshold_and_tau(client):
    body = get_json(client, "overview?run=net")
    assert body["threshold"] == 0.99 and body["tau"] == 0.025


def test_bad_records_are_skipped_and_reported_not_500(client):
    body = get_json(client, "heatmap?run=broken&tag=bad")
    assert body["steps"] == [0, 1, 3]
    assert body["zeros"] == [[4, 0], [4, 1], [4, 3]]
    assert [s["step"] for s in body["skipped"]] == [2]
    assert "record tensor must be 4 strings" in body["skipped"][0]["reason"]
    overview = get_json(client, "overview?run=broken")
    assert overview["layers"][0]["dead"] == [1, 1, 1]


# --------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    "path, status, message",
    [
        ("heatmap?tag=dense_1", 400, "missing query parameter 'run'"),
        ("heatmap?run=net", 400, "missing query parameter 'tag'"),
        ("heatmap?run=nope&tag=dense_1", 404, "run 'nope' has no Dead ReLU data"),
        ("heatmap?run=net&tag=nope", 404, "run 'net' has no Dead ReLU tag 'nope'"),
        ("heatmap?run=net&tag=dense_1&format=xml", 400, "format must be 'json' or 'binary', got 'xml'"),
        ("heatmap?run=net&tag=dense_1&format=binary", 400, "missing query parameter 'field'"),
        ("heatmap?run=net&tag=dense_1&format=binary&field=count", 400, "field must be one of zeros|abs_sum|nonfinite, got 'count'"),
        ("overview", 400, "missing query parameter 'run'"),
        ("overview?run=nope", 404, "run 'nope' has no Dead ReLU data"),
        ("overview?run=net&threshold=0", 400, "threshold must be in (0, 1], got '0'"),
        ("overview?run=net&threshold=1.5", 400, "threshold must be in (0, 1], got '1.5'"),
        ("overview?run=net&threshold=nan", 400, "threshold must be in (0, 1], got 'nan'"),
        ("overview?run=net&threshold=lots", 400, "threshold must be a number in (0, 1], got 'lots'"),
        ("overview?run=net&tau=-1", 400, "tau must be a finite number >= 0, got '-1'"),
        ("overview?run=net&tau=inf", 400, "tau must be a finite number >= 0, got 'inf'"),
        ("overview?run=net&per_unit=no", 400, "per_unit must be 0 or 1, got 'no'"),
    ],
)
def test_errors_are_json_with_status(client, path, status, message):
    assert get_json(client, path, status) == {"error": message}


# --------------------------------------------------------------------------
# static files and the listing


def test_frontend_folder_is_the_checkouts_frontend_when_run_from_the_repo():
    assert os.path.realpath(plugin.frontend_folder()) == os.path.realpath(os.path.join(REPO, "frontend"))


def test_static_index_js_is_served_as_javascript(client):
    response = client.get(ROOT + "static/index.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    with open(os.path.join(plugin.frontend_folder(), "index.js"), "rb") as f:
        assert response.get_data() == f.read()


@pytest.mark.parametrize(
    "path",
    [
        "static/../plugin.py",
        "static/%2e%2e/plugin.py",
        "static/%2E%2E%2Fplugin.py",
        "static/..%2f..%2fsetup.py",
        "static/..%5cplugin.py",
        "static/%2fetc%2fpasswd",
        "static//etc/passwd",
        "static/missing.js",
        "static/package.json",  # exists in frontend/, but not a type the tab serves
    ],
)
def test_static_refuses_traversal_and_unknown_files_with_json_404(client, path):
    response = client.get(ROOT + path)
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert "error" in json.loads(response.get_data())


def test_plugins_listing_marks_the_tab_active_through_the_data_provider(client, tmp_path):
    listing = get_listing(client)["deadrelu"]
    assert listing["enabled"] is True and listing["tab_name"] == "Dead ReLU"
    assert listing["loading_mechanism"] == {"type": "IFRAME", "module_path": ROOT + "static/index.js"}
    empty_client, _ = make_client(str(tmp_path))
    assert get_listing(empty_client)["deadrelu"]["enabled"] is False
    assert get_json(empty_client, "tags") == {}


# --------------------------------------------------------------------------
# live training and the TF writer


def test_reload_shows_new_steps(tmp_path):
    rng = np.random.default_rng(3)
    run = str(tmp_path / "live")
    xs = [activations(rng, step, 4) for step in range(4)]
    eventfiles.write_summaries(run, [(s, summary.activations_pb("d", xs[s])) for s in range(2)])
    live_client, multiplexer = make_client(str(tmp_path))
    assert get_json(live_client, "tags")["live"]["d"]["last_step"] == 1
    eventfiles.write_summaries(run, [(s, summary.activations_pb("d", xs[s])) for s in range(2, 4)])
    multiplexer.Reload()
    assert get_json(live_client, "tags")["live"]["d"]["last_step"] == 3
    body = get_json(live_client, "heatmap?run=live&tag=d")
    assert body["zeros"][3] == record_sums(xs[3])["zeros"].tolist()


def test_sampling_limit_is_reported(tmp_path):
    rng = np.random.default_rng(4)
    eventfiles.write_summaries(str(tmp_path / "r"), [(s, summary.activations_pb("d", activations(rng, 0, 2))) for s in range(30)])
    _, provider = data_provider(str(tmp_path), sample_limit=8)
    context = base_plugin.TBContext(data_provider=provider, sampling_hints={"deadrelu": 8})
    small = werkzeug_test.Client(application.TensorBoardWSGI([plugin.DeadReluPlugin(context)], data_provider=provider))
    tags = get_json(small, "tags")["r"]["d"]
    assert tags["last_step"] == 29 and tags["sample_limit"] == 8
    body = get_json(small, "heatmap?run=r&tag=d")
    assert len(body["steps"]) == 8 and body["last_step"] == 29
    assert body["downsampled"] is True and body["sample_limit"] == 8


def test_records_written_by_the_tf_summary_op(tmp_path):
    tf = pytest.importorskip("tensorflow")  # the TF writer is the subject here
    rng = np.random.default_rng(5)
    xs = [activations(rng, step, 4, batch=8) for step in range(3)]
    writer = tf.summary.create_file_writer(str(tmp_path / "tf"))
    with writer.as_default():
        for step, x in enumerate(xs):
            summary.activations("relu", tf.constant(x), step=step)
    writer.close()
    tf_client, _ = make_client(str(tmp_path))
    body = get_json(tf_client, "heatmap?run=tf&tag=relu")
    assert body["steps"] == [0, 1, 2]
    assert body["zeros"] == [record_sums(x)["zeros"].tolist() for x in xs]
    np.testing.assert_allclose(body["abs_sum"], [record_sums(x)["abs_sum"] for x in xs], rtol=1e-6)


# --------------------------------------------------------------------------
# the loader's sampling flag, parsed by TensorBoard itself


def configured_flags(*argv):
    tb = program.TensorBoard(plugins=[core_plugin.CorePluginLoader(), loader.DeadReluLoader()])
    tb.configure(argv=["tensorboard", "--logdir=/tmp"] + list(argv))
    return tb.flags


def test_loader_keeps_2000_steps_by_default(tmp_path):
    """TensorBoard's own ingester, built from the parsed flags, keeps 2,000 steps of a
    2,050-step run (its default for a third-party plugin would keep 10)."""
    eventfiles.write_summaries(
        str(tmp_path / "long"), [(s, summary.stats_pb("d", 2, [s % 3], [1.0], [0])) for s in range(2050)]
    )
    flags = configured_flags("--logdir=%s" % tmp_path, "--load_fast=false")
    assert flags.samples_per_plugin == {"deadrelu": 2000}
    ingester = data_ingester.LocalDataIngester(flags)
    ingester.deprecated_multiplexer.AddRunsFromDirectory(str(tmp_path))
    ingester.deprecated_multiplexer.Reload()
    context = base_plugin.TBContext(data_provider=ingester.data_provider, sampling_hints=flags.samples_per_plugin, flags=flags)
    app = application.TensorBoardWSGI([loader.DeadReluLoader().load(context)], data_provider=ingester.data_provider)
    body = get_json(werkzeug_test.Client(app), "heatmap?run=long&tag=d")
    assert len(body["steps"]) == 2000 and body["last_step"] == 2049 and body["sample_limit"] == 2000


def test_users_samples_per_plugin_wins():
    assert configured_flags("--samples_per_plugin=deadrelu=50,images=3").samples_per_plugin == {
        "deadrelu": 50,
        "images": 3,
    }
    assert configured_flags("--samples_per_plugin=deadrelu=0").samples_per_plugin == {"deadrelu": 0}


def test_cache_flag_is_parsed_and_two_loaders_do_not_clash():
    tb = program.TensorBoard(plugins=[core_plugin.CorePluginLoader(), loader.DeadReluLoader(), loader.DeadReluLoader()])
    tb.configure(argv=["tensorboard", "--logdir=/tmp", "--deadrelu_cache_mb=64"])
    assert tb.flags.deadrelu_cache_mb == 64
    assert configured_flags().deadrelu_cache_mb == options.DEFAULT_CACHE_MB
    assert plugin.cache_bytes_from(base_plugin.TBContext(flags=tb.flags)) == 64 * 2**20
    with pytest.raises(SystemExit):
        configured_flags("--deadrelu_cache_mb=0")


def test_sample_limit_zero_means_every_step_kept():
    assert plugin.sample_limit_from(base_plugin.TBContext(sampling_hints={"deadrelu": 0})) is None
    assert plugin.sample_limit_from(base_plugin.TBContext(sampling_hints={"deadrelu": 50})) == 50


# --------------------------------------------------------------------------
# gradient series (kind "gradients", tag "<layer>/gradients")

GRAD_UNITS = 4
GRAD_STEPS = [0, 1, 2]


def gradients(rng, step, batch=10):
    """d(loss)/d(pre-activation) on the probe: unit 0 dead (always exactly 0), unit 1 zero
    on the first `step` inputs, unit 2 tiny but never zero (SELU-like), unit 3 one NaN at step 2."""
    g = rng.normal(size=(batch, GRAD_UNITS)).astype(np.float32)
    g[:, 0] = 0.0
    g[:step, 1] = 0.0
    g[:, 2] = 1e-6 * (np.abs(g[:, 2]) + 1)
    if step == 2:
        g[3, 3] = np.nan
    return g


@pytest.fixture(scope="module")
def grad_logdir(tmp_path_factory):
    """Run "net": layer "dense" with a gradient series, layer "dense_1" without one."""
    root = tmp_path_factory.mktemp("grads")
    rng = np.random.default_rng(11)
    acts = [activations(rng, step, GRAD_UNITS) for step in GRAD_STEPS]
    grads = [gradients(rng, step) for step in GRAD_STEPS]
    events = []
    for step in GRAD_STEPS:
        events.append((step, summary.stats_pb("dense", order=0, **summary.reduce_activations_np(acts[step]))))
        events.append((step, summary.stats_pb("dense_1", order=1, **summary.reduce_activations_np(acts[step]))))
        events.append(
            (
                step,
                summary.stats_pb(
                    metadata.gradients_tag("dense"), kind=metadata.KIND_GRADIENTS, **summary.reduce_activations_np(grads[step])
                ),
            )
        )
    eventfiles.write_summaries(str(root / "net"), events)
    return str(root), grads


@pytest.fixture(scope="module")
def grad_client(grad_logdir):
    return make_client(grad_logdir[0])[0]


def test_gradient_series_are_listed_with_their_kind(grad_client):
    body = get_json(grad_client, "tags")
    assert set(body["net"]) == {"dense", "dense_1", "dense/gradients"}
    assert body["net"]["dense/gradients"]["kind"] == "gradients"
    assert body["net"]["dense/gradients"]["units"] == GRAD_UNITS and body["net"]["dense/gradients"]["last_step"] == 2
    assert body["net"]["dense"]["kind"] == "activations"


def test_gradient_heatmap_json_and_binary_equal_numpy(grad_client, grad_logdir):
    _, grads = grad_logdir
    expected = {name: np.stack([record_sums(g)[name] for g in grads]) for name in ("zeros", "abs_sum", "nonfinite")}
    # Spelled out: unit 0 is exactly zero on all 10 inputs, unit 1 on `step` of them, unit 2 never.
    assert expected["zeros"][:, :3].tolist() == [[10, 0, 0], [10, 1, 0], [10, 2, 0]]
    assert expected["nonfinite"][:, 3].tolist() == [0, 0, 1]
    body = get_json(grad_client, "heatmap?run=net&tag=dense/gradients")
    assert body["tag"] == "dense/gradients" and body["steps"] == GRAD_STEPS and body["count"] == [10] * 3
    assert body["zeros"] == expected["zeros"].tolist()
    assert body["nonfinite"] == expected["nonfinite"].tolist()
    assert body["abs_sum"] == expected["abs_sum"].astype(np.float64).tolist()
    for field in encoding.BINARY_FIELDS:
        response = grad_client.get(ROOT + "heatmap?run=net&tag=dense/gradients&format=binary&field=" + field)
        assert response.status_code == 200 and response.mimetype == "application/octet-stream"
        header, array = encoding.decode_binary(response.get_data())
        assert header["tag"] == "dense/gradients" and header["shape"] == [3, GRAD_UNITS]
        np.testing.assert_array_equal(array, expected[field])


def test_overview_adds_gradients_to_the_layer_that_has_them(grad_client, grad_logdir):
    _, grads = grad_logdir
    body = get_json(grad_client, "overview?run=net")
    assert [layer["tag"] for layer in body["layers"]] == ["dense", "dense_1"]  # no layer of its own
    assert "gradients" not in body["layers"][1]
    g = body["layers"][0]["gradients"]
    t = [record_sums(x) for x in grads]
    zero = [int(np.count_nonzero(s["zeros"] == s["count"])) for s in t]
    assert zero == [1, 1, 1]  # unit 0
    # Layer mean over units of the mean |gradient| over each unit's finite values, in float64
    # from the float32 sums on disk.
    mean_abs = [
        float(np.mean(s["abs_sum"].astype(np.float64) / (s["count"] - s["nonfinite"]))) for s in t
    ]
    assert g == {"tag": "dense/gradients", "steps": GRAD_STEPS, "count": [10] * 3, "zero": zero, "mean_abs": mean_abs}


def test_gradient_overview_is_null_where_no_unit_saw_a_finite_gradient():
    grads = series_lib.Series(
        run="r", tag="d/gradients", description="", kind=metadata.KIND_GRADIENTS, order=None,
        steps=np.array([0, 1]), wall_times=np.zeros(2), count=np.array([2, 2]),
        zeros=np.array([[0, 2], [0, 0]], np.uint8), abs_sum=np.array([[0, 0], [3, 1]], np.float32),
        nonfinite=np.array([[2, 0], [0, 0]], np.uint8), skipped=(), sample_limit=None, downsampled=False,
    )
    # Step 0: unit 0 saw only NaN/Inf, unit 1 only zeros -> mean 0 over the one unit seen.
    assert plugin.gradient_overview(grads.tag, analysis.summarize_gradients(grads)) == {
        "tag": "d/gradients", "steps": [0, 1], "count": [2, 2], "zero": [1, 0], "mean_abs": [0.0, 1.0],
    }
    all_nonfinite = dataclasses.replace(grads, nonfinite=np.array([[2, 2], [0, 0]], np.uint8), zeros=np.zeros((2, 2), np.uint8))
    assert plugin.gradient_overview(grads.tag, analysis.summarize_gradients(all_nonfinite))["mean_abs"] == [None, 1.0]


# --------------------------------------------------------------------------
# bounded caches and counts of any size


def test_a_cache_too_small_for_two_layers_stays_bounded_and_answers_stay_exact(tmp_path):
    rng = np.random.default_rng(12)
    widths = {"wide_a": 3500, "wide_b": 3500}
    acts = {tag: [activations(rng, step, units, batch=40) for step in range(30)] for tag, units in widths.items()}
    for tag in widths:
        eventfiles.write_summaries(str(tmp_path / "run"), [(s, summary.activations_pb(tag, x)) for s, x in enumerate(acts[tag])])
    small, counting, instance = counting_client(str(tmp_path), cache_mb=1)
    reader = instance._reader
    # One layer's series: 30 x 3500 uint8 zeros + float32 abs_sum = 525 KB; the record cache holds 896 KB:
    # one series, not two (a JSON body of ~1.3 MB is served but never kept).
    for _ in range(2):
        for tag in widths:
            body = get_json(small, "heatmap?run=run&tag=" + tag)
            assert body["zeros"] == [record_sums(x)["zeros"].tolist() for x in acts[tag]]
            assert reader.records.nbytes <= reader.records.limit == 1 * 2**20 - 2**20 // 8
            _, zeros = encoding.decode_binary(small.get(ROOT + "heatmap?run=run&tag=%s&format=binary&field=zeros" % tag).get_data())
            np.testing.assert_array_equal(zeros, [record_sums(x)["zeros"] for x in acts[tag]])
            assert reader.records.nbytes <= reader.records.limit
    # Evicted layers are read again: the bound is real.
    assert len(counting.reads) > len(widths)
    overview = get_json(small, "overview?run=run")
    for layer in overview["layers"]:
        dead = np.stack([record_sums(x)["zeros"] == 40 for x in acts[layer["tag"]]])
        assert layer["dead"] == dead.sum(axis=1).tolist()
    reads = len(counting.reads)
    get_json(small, "overview?run=run")
    assert len(counting.reads) == reads  # per-layer summaries outlive the evicted series
    assert reader.summaries.nbytes <= reader.summaries.limit


def test_overview_reads_each_layer_once_even_when_the_cache_cannot_hold_the_run(tmp_path):
    rng = np.random.default_rng(13)
    acts = {tag: [activations(rng, step, 3500, batch=40) for step in range(30)] for tag in ("wide_a", "wide_b")}
    for tag, xs in acts.items():
        eventfiles.write_summaries(str(tmp_path / "run"), [(s, summary.activations_pb(tag, x)) for s, x in enumerate(xs)])
    small, counting, _ = counting_client(str(tmp_path), cache_mb=1)  # holds one of the two layers
    overview = get_json(small, "overview?run=run")
    assert counting.reads == [(("run",), ("wide_a", "wide_b"), reader_lib.READ_EVERYTHING)]
    for layer in overview["layers"]:
        dead = np.stack([record_sums(x)["zeros"] == 40 for x in acts[layer["tag"]]])
        assert layer["dead"] == dead.sum(axis=1).tolist()


def test_byte_lru_serves_but_does_not_keep_an_entry_larger_than_its_limit():
    cache = caching.ByteLRU(100)
    cache.put("a", 1, "A", 60)
    cache.put("b", 1, "B", 30)
    assert cache.get("a", 1) == "A"  # a is now the most recently used
    cache.put("c", 1, "C", 30)  # 120 > 100: b goes first
    assert cache.get("b", 1) is None and cache.get("a", 1) == "A" and cache.get("c", 1) == "C"
    assert cache.nbytes == 90
    cache.put("huge", 1, "H", 101)
    assert cache.get("huge", 1) is None and cache.nbytes == 90
    assert cache.get("a", 2) is None  # another data version misses


def test_counts_above_2_to_the_32_are_exact_through_the_api(tmp_path):
    count = 16_000_000_000  # one ImageNet epoch through a stem convolution, per unit
    zeros = np.array([count, count - 1, count // 2, 0], dtype=np.int64)
    stats = {"count": count, "zeros": zeros, "abs_sum": np.array([0.0, 2.0, 4.0e9, 8.0e9]), "nonfinite": np.zeros(4, np.int64)}
    eventfiles.write_records(str(tmp_path / "imagenet"), "stem", [(0, stats), (1, stats)])
    big, _, _ = counting_client(str(tmp_path))
    body = get_json(big, "heatmap?run=imagenet&tag=stem")
    assert body["count"] == [count, count] and body["zeros"][1] == zeros.tolist()
    header, array = encoding.decode_binary(big.get(ROOT + "heatmap?run=imagenet&tag=stem&format=binary&field=zeros").get_data())
    assert header["dtype"] == "uint64" and header["count"] == [count, count]
    assert array.tolist() == [zeros.tolist()] * 2
    overview = get_json(big, "overview?run=imagenet&threshold=0.99")
    layer = overview["layers"][0]
    # Only unit 0 is dead; unit 1, one value short of its 1.6e10, is nearly dead.
    assert layer["dead"] == [1, 1] and layer["nearly_dead"] == [2, 2] and layer["death_step"] == [0, None, None, None]


def damaged_logdir(root):
    """A run whose layers' records are damaged in every way the reader meets: a
    tensor of the wrong dtype, of the wrong shape, fields that do not decode, and
    plugin content that is not JSON; plus one good layer."""
    cases = {
        "wrong_dtype": tensor_util.make_tensor_proto(np.array([1.0, 2.0])),
        "wrong_shape": tensor_util.make_tensor_proto(np.array([b"a", b"b"], dtype=object)),
        "undecodable": tensor_util.make_tensor_proto(np.array([b"x", b"y", b"z", b"w"], dtype=object)),
    }
    events = []
    for tag, tensor in cases.items():
        s = summary.stats_pb(tag, 1, [0], [0.0], [0])
        s.value[0].tensor.CopyFrom(tensor)
        events += [(0, s), (1, s)]
    s = summary.stats_pb("bad_content", 1, [0], [0.0], [0])
    s.value[0].metadata.plugin_data.content = b"{not json"
    events.append((0, s))
    events.append((0, summary.stats_pb("good", 2, [2, 0], [0.0, 3.0], [0, 0])))
    eventfiles.write_summaries(str(root / "run"), events)
    return str(root)


def test_every_route_format_and_field_answers_damaged_records_without_a_5xx(tmp_path):
    client, _ = make_client(damaged_logdir(tmp_path))
    tags = get_json(client, "tags")["run"]
    assert set(tags) == {"wrong_dtype", "wrong_shape", "undecodable", "bad_content", "good"}
    queries = ["tags", "overview?run=run", "overview?run=run&per_unit=0"]
    for tag in tags:
        queries.append("heatmap?run=run&tag=%s" % tag)
        queries += ["heatmap?run=run&tag=%s&format=binary&field=%s" % (tag, f) for f in encoding.BINARY_FIELDS]
        queries.append("heatmap?run=run&tag=%s&format=binary&field=count" % tag)
    for query in queries:
        response = client.get("/data/plugin/deadrelu/" + query)
        assert response.status_code < 500, (query, response.get_data()[:300])
        if response.status_code >= 400:
            assert response.mimetype == "application/json", query
            assert "field must be one of" in json.loads(response.get_data())["error"], query
    for tag in ("wrong_dtype", "wrong_shape", "undecodable"):
        heatmap = get_json(client, "heatmap?run=run&tag=%s" % tag)
        assert [s["step"] for s in heatmap["skipped"]] == [0, 1], tag
        header, array = encoding.decode_binary(client.get("/data/plugin/deadrelu/heatmap?run=run&tag=%s&format=binary&field=zeros" % tag).get_data())
        assert array.size == 0 and [s["step"] for s in header["skipped"]] == [0, 1]
    good = get_json(client, "heatmap?run=run&tag=good")
    assert good["zeros"] == [[2, 0]] and good["skipped"] == []
