"""The ``runs_summary`` route (the tab's runs table of a sweep): every number equal
to numpy's on a generated sweep logdir, scalars where a run has them and the
records where it has not, one data provider read for all runs, JSON 4xx errors."""

import json

import numpy as np
import pytest
from werkzeug import test as werkzeug_test

from tensorboard.backend import application
from tensorboard.plugins import base_plugin

from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.core import ordering
from tensorboard_plugin_deadrelu.server import loader
from tensorboard_plugin_deadrelu.server import sweep
from tensorboard_plugin_deadrelu.writing import event_writer
from tests.provider_fixtures import CountingProvider, data_provider
from tests.sweep_logdir import expected_row, sweep_names, write_sweep

ROOT = "/data/plugin/deadrelu/"
RUNS = sweep_names(6)
NO_SCALARS = RUNS[4]  # "sweep/lr0.01_wd1e-4_seed0"
WITH_GRADIENTS = RUNS[5]


class ScalarCounting(CountingProvider):
    """Also counts the scalar reads (runs, tags) of the route."""

    def __init__(self, inner):
        super().__init__(inner)
        self.scalar_reads = []

    def read_scalars(self, ctx, *, experiment_id, plugin_name, downsample, run_tag_filter):
        self.scalar_reads.append((tuple(run_tag_filter.runs or ()), tuple(run_tag_filter.tags or ())))
        return self._inner.read_scalars(
            ctx, experiment_id=experiment_id, plugin_name=plugin_name, downsample=downsample, run_tag_filter=run_tag_filter
        )


@pytest.fixture(scope="module")
def sweep_logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    truth = write_sweep(root, RUNS, without_scalars={NO_SCALARS}, with_gradients={WITH_GRADIENTS})
    return str(root), truth


def make_client(logdir):
    _, inner = data_provider(logdir)
    counting = ScalarCounting(inner)
    context = base_plugin.TBContext(data_provider=counting, sampling_hints={"deadrelu": 0})
    app = application.TensorBoardWSGI([loader.DeadReluLoader().load(context)], data_provider=counting)
    return werkzeug_test.Client(app), counting


def get(client, path, status=200):
    response = client.get(ROOT + path)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return json.loads(response.get_data())


def test_the_tag_is_the_writers():
    assert sweep.DEAD_FRACTION_TAG % "dense_1" == event_writer.dead_fraction_tag("dense_1")


def test_every_number_equals_numpy_and_says_where_it_came_from(sweep_logdir):
    logdir, truth = sweep_logdir
    client, counting = make_client(logdir)
    body = get(client, "runs_summary")
    # The one order of names: lr0.001 < lr0.01 < lr0.1, then wd0 < wd1e-4.
    assert [row["run"] for row in body["runs"]] == sorted(RUNS, key=ordering.natural_key)
    assert [row["run"] for row in body["runs"]][:2] == ["sweep/lr0.001_wd0_seed0", "sweep/lr0.001_wd1e-4_seed0"]
    for row in body["runs"]:
        source = "records" if row["run"] == NO_SCALARS else "scalars"
        assert row == pytest.approx(expected_row(row["run"], truth[row["run"]], source)), row["run"]
    first = next(row for row in body["runs"] if row["run"] == RUNS[0])
    assert first["dead"] == 0 and first["first_death_step"] is None
    assert any(row["dead"] > 0 for row in body["runs"])
    # Records were read for the run without scalars, and the gradient records of the
    # run that has them; the scalars of all other runs in one call.
    assert {run for run, _ in counting.read_tags()} == {NO_SCALARS, WITH_GRADIENTS}
    assert {tag for run, tag in counting.read_tags() if run == WITH_GRADIENTS} == {
        "dense_1/gradients", "dense_2/gradients", "dense_10/gradients"
    }
    assert len(counting.scalar_reads) == 1
    # Warm: nothing read again.
    reads, scalar_reads = len(counting.reads), len(counting.scalar_reads)
    assert get(client, "runs_summary") == body
    assert (len(counting.reads), len(counting.scalar_reads)) == (reads, scalar_reads)


def test_records_agree_with_the_scalars(sweep_logdir):
    logdir, truth = sweep_logdir
    client, _ = make_client(logdir)
    scalars = get(client, "runs_summary")["runs"]
    records = get(client, "runs_summary?source=records")["runs"]
    for a, b in zip(scalars, records):
        assert b["source"] == "records"
        assert {**a, "source": "records"} == pytest.approx(b)


def test_regex_keeps_matching_runs_in_order(sweep_logdir):
    client, _ = make_client(sweep_logdir[0])
    body = get(client, "runs_summary?regex=LR0%5C.1_")  # case-insensitive search for "lr0\.1_"
    assert [row["run"] for row in body["runs"]] == sorted((r for r in RUNS if "lr0.1_" in r), key=ordering.natural_key)
    assert get(client, "runs_summary?regex=nothing-like-this") == {"runs": []}


@pytest.mark.parametrize(
    "query, message",
    [
        ("regex=lr(0", "regex is not a valid regular expression"),
        ("source=cache", "source must be 'auto' or 'records', got 'cache'"),
    ],
)
def test_bad_parameters_are_400_with_a_json_error(sweep_logdir, query, message):
    client, _ = make_client(sweep_logdir[0])
    body = get(client, "runs_summary?" + query, status=400)
    assert message in body["error"]


def test_empty_logdir_has_no_rows(tmp_path):
    client, _ = make_client(str(tmp_path))
    assert get(client, "runs_summary") == {"runs": []}


def test_gradient_and_recycled_series_are_not_layers(tmp_path):
    count = 4
    with event_writer.RecordWriter(str(tmp_path / "run")) as writer:
        for step in (0, 5):
            zeros = np.array([count, 0, count if step else 1])
            sums = dict(count=count, zeros=zeros, abs_sum=(count - zeros).astype(np.float32), nonfinite=np.zeros(3, np.int64))
            writer.write_record("dense", step, **sums)
            writer.write_dead_fraction("dense", step, **sums)
            writer.write_record("dense", step, **metadata.recycled_sums(3, [1]), kind=metadata.KIND_RECYCLED)
            writer.write_record("dense", step, **sums, kind=metadata.KIND_GRADIENTS)
    client, _ = make_client(str(tmp_path))
    (row,) = get(client, "runs_summary")["runs"]
    assert row == {
        "run": "run", "layers": 1, "units": 3, "dead": 2, "dead_share": 2 / 3, "worst_layer": "dense",
        "worst_share": 2 / 3, "first_death_step": 0, "zero_gradient_units": 2, "last_step": 5, "source": "scalars",
    }
