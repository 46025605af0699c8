"""``deadrelu report`` on hand-made log folders, against plain-Python ground truth.

The expected numbers are computed here with loops over the same hand-made
arrays that were written to disk, not with ``analysis.py``.
"""

import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from tensorboard_plugin_deadrelu.report import logdir_reader
from tensorboard_plugin_deadrelu.report import cli as report
from tensorboard_plugin_deadrelu.writing import summary
from tests.eventfiles import write_records

TAU = 0.025

# run -> tag -> list of (step, count, zeros, abs_sum, nonfinite), hand-made.
LAYERS = {
    "relu": {
        "dense_1": [
            (0, 10, [10, 0, 3, 0], [0.0, 5.0, 4.0, 8.0], [0, 0, 0, 0]),
            (1, 10, [10, 10, 10, 10], [0.0, 0.0, 0.0, 0.0], [0, 0, 0, 0]),
            # u1 outputs one tiny value (dormant, not dead); u2 saw 2 NaNs.
            (2, 10, [10, 9, 0, 10], [0.0, 0.05, 16.0, 0.0], [0, 0, 2, 0]),
        ],
        "dense_2": [
            (0, 4, [0, 0, 0], [3.0, 3.0, 3.0], [0, 0, 0]),
            (5, 4, [4, 4, 1], [0.0, 0.0, 6.0], [0, 0, 0]),
        ],
    },
    os.path.join("sub", "selu"): {
        "dense_1": [
            (0, 5, [0, 0, 0], [5.0, 5.0, 5.0], [0, 0, 0]),
            (1, 5, [0, 0, 0], [5.0, 5.0, 0.01], [0, 0, 0]),
        ],
    },
}


def stats(count, zeros, abs_sum, nonfinite):
    return {
        "count": count,
        "zeros": np.array(zeros, np.int64),
        "abs_sum": np.array(abs_sum, np.float64),
        "nonfinite": np.array(nonfinite, np.int64),
    }


def write_layers(logdir, layers):
    for run, tags in layers.items():
        for tag, rows in tags.items():
            write_records(os.path.join(logdir, run), tag, [(row[0], stats(*row[1:])) for row in rows])


def expected_layer(run, tag, rows, tau=TAU):
    """The report's numbers for one layer, by plain loops over the hand-made rows."""

    def dead_units(row):
        _, count, zeros, _, _ = row
        return [count > 0 and z == count for z in zeros]

    units = len(rows[0][2])
    latest = rows[-1]
    fully_dead = None
    for row in rows:
        if all(dead_units(row)):
            fully_dead = row[0]
            break
    _, count, _, abs_sum, nonfinite = latest
    means = [a / (count - n) for a, n in zip(abs_sum, nonfinite)]
    layer_mean = sum(means) / units
    dormant = sum(1 for m in means if (m / layer_mean if layer_mean else 0.0) <= tau)
    dead_now = sum(dead_units(latest))
    dead_first = sum(dead_units(rows[0]))
    return {
        "run": run,
        "layer": tag,
        "units": units,
        "steps": len(rows),
        "first_step": rows[0][0],
        "latest_step": latest[0],
        "dead_now": dead_now,
        "dead_now_share": dead_now / units,
        "dead_at_first_step": dead_first,
        "dead_at_first_step_share": dead_first / units,
        "first_fully_dead_step": fully_dead,
        "dormant_now": dormant,
        "dormant_now_share": dormant / units,
    }


def expected_layers(layers, tau=TAU):
    return [
        expected_layer(run, tag, rows, tau)
        for run in sorted(layers)
        for tag, rows in sorted(layers[run].items())
    ]


def run_main(*argv):
    """Runs ``main`` in-process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = report.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write_values(run_dir, steps_and_values):
    """Writes one event per ``(step, Summary.Value)``, in order, into one new event file."""
    writer = EventFileWriter(run_dir)
    for step, value in steps_and_values:
        event = event_pb2.Event(step=step, wall_time=1_600_000_000.0 + step)
        event.summary.value.add().CopyFrom(value)
        writer.add_event(event)
    writer.close()


def record_value(tag, row, content=None):
    value = summary.stats_pb(tag, **stats(*row)).value[0]
    if content is not None:
        value.metadata.plugin_data.content = content
    return value


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("logs"))
    write_layers(path, LAYERS)
    return path


def subset(layer):
    """The fields of a reported layer that :func:`expected_layer` computes."""
    return {k: layer[k] for k in EXPECTED_FIELDS}


EXPECTED_FIELDS = (
    "run", "layer", "units", "steps", "first_step", "latest_step",
    "dead_now", "dead_now_share", "dead_at_first_step", "dead_at_first_step_share",
    "first_fully_dead_step", "dormant_now", "dormant_now_share",
)


def test_json_numbers_match_ground_truth(logdir):
    code, out, err = run_main("report", logdir, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert [subset(layer) for layer in result["layers"]] == expected_layers(LAYERS)
    assert result["schema_version"] == 1
    assert result["tau"] == TAU
    assert result["fail_above"] is None
    assert result["failing_layers"] == []
    assert result["skipped_records"] == [] and result["damaged_files"] == []
    assert result["totals"]["runs"] == 2
    assert result["totals"]["layers"] == 3
    assert result["totals"]["records"] == 7
    assert all(layer["above_fail_above"] is False for layer in result["layers"])
    assert err == ""


# relu/dense_1's u1 scores 0.005 / 0.50125 = 0.00998 at its latest step (u2's mean
# is 16 / 8 finite values); ignoring u2's NaNs would give 0.005 / 0.40125 = 0.01246.
@pytest.mark.parametrize("tau, dormant", [("0.005", 2), ("0.011", 3)])
def test_tau_changes_dormant_count(logdir, tau, dormant):
    code, out, _ = run_main("report", logdir, "--json", "--tau", tau)
    assert code == 0
    got = {(l["run"], l["layer"]): l["dormant_now"] for l in json.loads(out)["layers"]}
    want = {(l["run"], l["layer"]): l["dormant_now"] for l in expected_layers(LAYERS, tau=float(tau))}
    assert got == want
    assert got[("relu", "dense_1")] == dormant


def test_text_table_is_aligned_and_shows_the_numbers(logdir):
    code, out, err = run_main("report", logdir)
    assert code == 0, err
    lines = out.splitlines()
    header, rows, footer = lines[0], lines[1:-1], lines[-1]
    assert header.split("  ")[0] == "run"
    assert "dormant now (tau=0.025)" in header
    # Columns line up: every row is as wide as the header or narrower, and the
    # right-aligned "units" column ends at the same position in every line.
    units_end = header.index("units") + len("units")
    for row in rows:
        assert row[units_end - 1] != " " and row[units_end] == " "
    cells = [[c for c in row.split("  ") if c] for row in rows]
    cells = [[c.strip() for c in row] for row in cells]
    expected = [
        [
            e["run"], e["layer"], str(e["units"]), "%d-%d" % (e["first_step"], e["latest_step"]),
            "%d (%.1f%%)" % (e["dead_now"], 100 * e["dead_now_share"]),
            "%d (%.1f%%)" % (e["dead_at_first_step"], 100 * e["dead_at_first_step_share"]),
            "never" if e["first_fully_dead_step"] is None else str(e["first_fully_dead_step"]),
            "%d (%.1f%%)" % (e["dormant_now"], 100 * e["dormant_now_share"]),
        ]
        for e in expected_layers(LAYERS)
    ]
    assert cells == expected
    assert cells[0][4:7] == ["2 (50.0%)", "1 (25.0%)", "1"]
    assert footer.startswith("2 runs, 3 layers: 7 records in 3 event files")


@pytest.mark.parametrize(
    "fail_above, code, failing",
    [
        ("0.7", 0, []),
        ("0.6667", 0, []),  # 2/3 = 0.66666... does not exceed 0.6667
        ("0.6", 1, [("relu", "dense_2")]),
        ("0.5", 1, [("relu", "dense_2")]),  # relu/dense_1 is exactly 0.5: not above
        ("0.4", 1, [("relu", "dense_1"), ("relu", "dense_2")]),
        ("0", 1, [("relu", "dense_1"), ("relu", "dense_2")]),
    ],
)
def test_fail_above_exit_codes_and_named_layers(logdir, fail_above, code, failing):
    got_code, out, err = run_main("report", logdir, "--json", "--fail-above", fail_above)
    assert got_code == code
    result = json.loads(out)
    assert [(f["run"], f["layer"]) for f in result["failing_layers"]] == failing
    assert [(l["run"], l["layer"]) for l in result["layers"] if l["above_fail_above"]] == failing
    for run, layer in failing:
        assert "run %s, layer %s:" % (run, layer) in err
    if not failing:
        assert err == ""


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "nan", "half"])
def test_fail_above_out_of_range_is_a_usage_error(logdir, bad, capsys):
    code, out, _ = run_main("report", logdir, "--fail-above", bad)
    assert code == 2
    assert out == ""
    assert "--fail-above" in capsys.readouterr().err  # argparse prints to sys.stderr


def test_bad_tau_and_missing_logdir_argument_are_usage_errors(logdir, capsys):
    assert run_main("report", logdir, "--tau", "-1")[0] == 2
    assert "--tau" in capsys.readouterr().err
    assert run_main("report")[0] == 2
    assert "LOGDIR" in capsys.readouterr().err
    assert run_main("--help")[0] == 0


def test_missing_folder_is_an_error_naming_it(tmp_path):
    missing = str(tmp_path / "no_such_logs")
    code, out, err = run_main("report", missing)
    assert code == 2
    assert out == ""
    assert missing in err and "does not exist" in err


def test_file_instead_of_folder_is_an_error(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("not a logdir")
    code, _, err = run_main("report", str(path))
    assert code == 2
    assert str(path) in err and "not a directory" in err


def test_folder_without_records_is_an_error_naming_it(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run_main("report", str(empty))
    assert (code, out) == (2, "")
    assert "no Dead ReLU records under %s" % empty in err

    # Event files with other plugins' summaries only: still no records.
    scalars = tmp_path / "scalars"
    write_values(str(scalars / "run"), [(0, summary_pb2.Summary.Value(tag="loss", simple_value=0.5))])
    code, out, err = run_main("report", str(scalars))
    assert (code, out) == (2, "")
    assert "no Dead ReLU records under %s" % scalars in err
    assert "(1 event file, 2 events read)" in err


def test_corrupt_and_unknown_version_records_are_skipped_and_mentioned(tmp_path):
    logdir = str(tmp_path)
    run_dir = os.path.join(logdir, "run")
    good = LAYERS["relu"]["dense_1"]
    # Step 1 of dense_1: the right metadata but a record tensor of 3 strings.
    broken = record_value("dense_1", good[1][1:])
    broken.tensor.CopyFrom(tensor_util.make_tensor_proto(np.array([b"a", b"b", b"c"], dtype=object)))
    # A layer written by a future version of the plugin.
    future = json.dumps({"version": 99, "kind": "activations"}).encode()
    write_values(
        run_dir,
        [
            (0, record_value("dense_1", good[0][1:])),
            (0, record_value("future", good[0][1:], content=future)),
            (1, broken),
            (2, record_value("dense_1", good[2][1:])),
        ],
    )

    code, out, err = run_main("report", logdir, "--json")
    assert code == 0, err
    result = json.loads(out)
    # dense_1 is reported from its two good steps; the future layer not at all.
    [layer] = result["layers"]
    assert subset(layer) == expected_layer(".", "dense_1", [good[0], good[2]]) | {"run": "run"}
    skipped = {(s["layer"], s["step"]): s["reason"] for s in result["skipped_records"]}
    assert set(skipped) == {("dense_1", 1), ("future", 0)}
    assert "must be 4 strings" in skipped[("dense_1", 1)]
    assert "version 99" in skipped[("future", 0)]
    assert "warning: skipped 2 Dead ReLU records:" in err
    assert "run run, layer dense_1, step 1:" in err
    assert "run run, layer future, step 0: record version 99 is not supported" in err


def test_only_unreadable_records_is_an_error_that_says_why(tmp_path):
    future = json.dumps({"version": 99, "kind": "activations"}).encode()
    write_values(str(tmp_path / "run"), [(3, record_value("layer", (4, [0], [1.0], [0]), content=future))])
    code, out, err = run_main("report", str(tmp_path))
    assert (code, out) == (2, "")
    assert "no Dead ReLU records under %s" % tmp_path in err
    assert "skipped 1 record, e.g. record version 99 is not supported" in err


@pytest.mark.parametrize("reader", ["python", "tensorflow"])
def test_truncated_file_tail_is_reported_and_the_rest_read(tmp_path, reader):
    rows = LAYERS["relu"]["dense_2"]
    write_records(str(tmp_path / "run"), "dense_2", [(row[0], stats(*row[1:])) for row in rows])
    [path] = [os.path.join(tmp_path, "run", f) for f in os.listdir(tmp_path / "run")]
    with open(path, "ab") as f:
        f.write(b"\x05\x00\x00")  # the start of a record header, cut short
    [contents] = logdir_reader.read_logdir(str(tmp_path), reader=reader)
    [series] = contents.series
    np.testing.assert_array_equal(series.steps, [0, 5])
    [damaged] = contents.damaged_files
    assert damaged.path == path
    assert "truncated" in damaged.reason

    code, _, err = run_main("report", str(tmp_path))
    assert code == 0
    assert "warning: could not read 1 event file to the end:" in err and path in err


def move_into(run_dir, source_dir, timestamp):
    """Moves the one event file of ``source_dir`` into ``run_dir`` under a name
    starting with ``timestamp``, so that file order is known."""
    [name] = os.listdir(source_dir)
    target = os.path.join(run_dir, "events.out.tfevents.%010d.host.1.0" % timestamp)
    os.makedirs(run_dir, exist_ok=True)
    shutil.move(os.path.join(source_dir, name), target)


def test_restart_later_file_wins_and_drops_older_later_steps(tmp_path):
    alive = (4, [0, 0], [2.0, 2.0], [0, 0])
    dead = (4, [4, 4], [0.0, 0.0], [0, 0])
    run_dir = str(tmp_path / "logs" / "run")
    # First file: steps 0..5, the layer dies at step 3.
    write_records(str(tmp_path / "a"), "layer", [(s, stats(*(alive if s < 3 else dead))) for s in range(6)])
    # Second file (a restart from a checkpoint of step 2): steps 2, 3, all alive.
    write_records(str(tmp_path / "b"), "layer", [(s, stats(*alive)) for s in (2, 3)])
    move_into(run_dir, str(tmp_path / "a"), 1_700_000_000)
    move_into(run_dir, str(tmp_path / "b"), 1_700_000_100)

    [contents] = logdir_reader.read_logdir(str(tmp_path / "logs"))
    [series] = contents.series
    np.testing.assert_array_equal(series.steps, [0, 1, 2, 3])
    np.testing.assert_array_equal(series.zeros, np.zeros((4, 2)))

    code, out, _ = run_main("report", str(tmp_path / "logs"), "--json")
    [layer] = json.loads(out)["layers"]
    assert (layer["latest_step"], layer["dead_now"], layer["first_fully_dead_step"]) == (3, 0, None)


def test_run_names_follow_tensorboard(tmp_path):
    rows = [(0, stats(4, [4], [0.0], [0]))]
    write_records(str(tmp_path), "top", rows)
    write_records(str(tmp_path / "a" / "b"), "deep", rows)
    assert list(logdir_reader.find_runs(str(tmp_path))) == [".", os.path.join("a", "b")]
    runs = [(c.run, [s.tag for s in c.series]) for c in logdir_reader.read_logdir(str(tmp_path))]
    assert runs == [(".", ["top"]), (os.path.join("a", "b"), ["deep"])]


def test_python_and_tensorflow_readers_agree(logdir):
    by_reader = {}
    for reader in ("python", "tensorflow"):
        by_reader[reader] = [
            (s.run, s.tag, s.steps.tolist(), s.count.tolist(), s.zeros.tolist(), s.abs_sum.tolist(), s.nonfinite.tolist())
            for contents in logdir_reader.read_logdir(logdir, reader=reader)
            for s in contents.series
        ]
    assert by_reader["python"] == by_reader["tensorflow"]
    assert len(by_reader["python"]) == 3


def test_report_does_not_import_tensorflow(logdir):
    # A fresh interpreter: this test process may have imported TensorFlow already.
    code = (
        "import sys\n"
        "from tensorboard_plugin_deadrelu.report import cli as report\n"
        "assert report.main(['report', sys.argv[1]]) == 0\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code, logdir], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_installed_console_script_and_module_entry(logdir):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    # The script beside the interpreter, as pip installs it, whether or not the
    # environment's bin folder is on PATH (make test runs .venv/bin/python).
    beside = os.path.join(os.path.dirname(sys.executable), "deadrelu")
    script = beside if os.path.exists(beside) else shutil.which("deadrelu")
    assert script, "the deadrelu console script is not installed (pip install -e .)"
    done = subprocess.run(
        [script, "report", logdir, "--json", "--fail-above", "0.6"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert [(f["run"], f["layer"]) for f in result["failing_layers"]] == [("relu", "dense_2")]
    assert "run relu, layer dense_2: 66.7% dead" in done.stderr

    done = subprocess.run(
        [sys.executable, "-m", "tensorboard_plugin_deadrelu.report", logdir],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("run")


def test_parallel_runs_give_the_same_report(logdir):
    code1, out1, _ = run_main("report", logdir, "--json", "--jobs", "1")
    code2, out2, _ = run_main("report", logdir, "--json", "--jobs", "2")
    assert code1 == code2 == 0
    assert json.loads(out1)["layers"] == json.loads(out2)["layers"]
    assert [subset(layer) for layer in json.loads(out2)["layers"]] == expected_layers(LAYERS)


def test_jobs_must_be_positive(logdir, capsys):
    assert run_main("report", logdir, "--jobs", "0")[0] == 2
    assert "--jobs" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"tau": -0.1}, "tau"),
        ({"tau": float("nan")}, "tau"),
        ({"fail_above": 2}, "fail_above"),
        ({"fail_above": "0.5"}, "fail_above"),
        ({"reader": "rust"}, "reader"),
        ({"jobs": 0}, "jobs"),
    ],
)
def test_build_report_rejects_bad_arguments_by_name(logdir, kwargs, named):
    with pytest.raises(ValueError, match=named):
        report.build_report(logdir, **kwargs)


def test_report_on_a_log_written_by_tensorflow(tmp_path):
    """Records from the TF summary op (TF's C++ writer, a conv layer's channels as
    units) give the counts a plain loop over the activations gives."""
    tf = pytest.importorskip("tensorflow")

    from tensorboard_plugin_deadrelu.writing import summary as summary_ops

    rng = np.random.default_rng(3)
    batches = []
    for step in range(3):
        x = rng.normal(size=(4, 3, 3, 5)).astype(np.float32)
        x = np.maximum(x, 0)
        x[..., 0] = 0  # channel 0 dead at every step
        if step == 2:
            x[..., 1] = 0  # channel 1 dies at the last step
            x[0, 0, 0, 4] = 1e-4  # channel 4: alive but tiny
            x[..., 4] = np.where(x[..., 4] == 1e-4, x[..., 4], 0)
        batches.append(x)
    writer = tf.summary.create_file_writer(str(tmp_path / "tf_run"))
    with writer.as_default():
        for step, x in enumerate(batches):
            summary_ops.activations("conv", tf.constant(x), step=step)
    writer.close()

    code, out, err = run_main("report", str(tmp_path), "--json")
    assert code == 0, err
    [layer] = json.loads(out)["layers"]
    latest = batches[-1].reshape(-1, 5)
    dead_now = sum(1 for u in range(5) if all(v == 0 for v in latest[:, u]))
    means = [float(np.abs(latest[:, u]).astype(np.float64).mean()) for u in range(5)]
    layer_mean = sum(means) / 5
    dormant = sum(1 for m in means if m / layer_mean <= TAU)
    assert (layer["run"], layer["layer"], layer["units"], layer["steps"]) == ("tf_run", "conv", 5, 3)
    assert (layer["dead_now"], layer["dead_at_first_step"]) == (dead_now, 1) == (2, 1)
    assert layer["dormant_now"] == dormant == 3
    assert layer["first_fully_dead_step"] is None


def test_gradient_series_are_reported_with_their_layer_not_as_layers(tmp_path):
    run_dir = str(tmp_path / "net")
    zeros = np.array([[4, 0, 1], [4, 4, 0]])
    write_records(run_dir, "dense", [
        (step, {"count": 4, "zeros": zeros[i], "abs_sum": np.ones(3), "nonfinite": np.zeros(3, np.int64)})
        for i, step in enumerate((0, 1))
    ])
    gradient_zeros = np.array([[4, 4, 0], [4, 0, 0]])  # latest step: only unit 0 has zero gradient everywhere
    write_records(run_dir, "dense/gradients", [
        (step, {"count": 4, "zeros": gradient_zeros[i], "abs_sum": np.ones(3), "nonfinite": np.zeros(3, np.int64)})
        for i, step in enumerate((0, 1))
    ], kind="gradients")
    result = report.build_report(str(tmp_path))
    assert [layer["layer"] for layer in result["layers"]] == ["dense"]
    (layer,) = result["layers"]
    assert layer["dead_now"] == 2
    assert layer["zero_gradient_now"] == 1
    assert layer["zero_gradient_now_share"] == pytest.approx(1 / 3)
    out = io.StringIO()
    assert report.main(["report", str(tmp_path)], stdout=out, stderr=io.StringIO()) == 0
    header, row = out.getvalue().splitlines()[:2]
    assert header.rstrip().endswith("zero gradient now")
    assert row.rstrip().endswith("1 (33.3%)")


def test_layers_without_gradients_have_null_gradient_fields(logdir):
    result = report.build_report(logdir)
    assert all(layer["zero_gradient_now"] is None for layer in result["layers"])
    out = io.StringIO()
    report.main(["report", logdir], stdout=out, stderr=io.StringIO())
    assert "zero gradient" not in out.getvalue()


def test_runs_and_layers_in_the_one_natural_model_order(tmp_path):
    rows = [(0, stats(4, [4, 0], [0.0, 1.0], [0, 0]))]
    for run in ("run_10", "run_2"):
        for tag in ("dense_10", "dense_2", "dense_1"):
            write_records(str(tmp_path / run), tag, rows)
    code, out, _ = run_main("report", str(tmp_path), "--json")
    assert code == 0
    order = [(layer["run"], layer["layer"]) for layer in json.loads(out)["layers"]]
    assert order == [(run, tag) for run in ("run_2", "run_10") for tag in ("dense_1", "dense_2", "dense_10")]


def copy_to_memory_filesystem(local_dir, url):
    """Copies a local logdir into fsspec's in-memory file system under ``url``."""
    import fsspec

    fs = fsspec.filesystem("memory")
    for folder, _, files in os.walk(local_dir):
        for name in files:
            relative = os.path.relpath(os.path.join(folder, name), local_dir).replace(os.sep, "/")
            with open(os.path.join(folder, name), "rb") as source, fs.open(url + "/" + relative, "wb") as target:
                target.write(source.read())
    return fs


def test_remote_logdir_is_read_through_tensorboards_file_layer(logdir):
    """A non-local URL, offline: fsspec's memory:// file system, which TensorBoard's gfile reads."""
    pytest.importorskip("fsspec")
    url = "memory://bucket/logs"
    fs = copy_to_memory_filesystem(logdir, url)
    try:
        assert list(logdir_reader.find_runs(url)) == ["relu", "sub/selu"]
        code, out, err = run_main("report", url, "--json")
        assert code == 0, err
        remote = json.loads(out)
        local = json.loads(run_main("report", logdir, "--json")[1])
        for layer in local["layers"]:
            layer["run"] = layer["run"].replace(os.sep, "/")
        drop = ("seconds",)
        assert [subset(layer) for layer in remote["layers"]] == [subset(layer) for layer in local["layers"]]
        assert remote["totals"]["bytes"] == local["totals"]["bytes"] > 0
        assert {k: v for k, v in remote["totals"].items() if k not in drop} == {
            k: v for k, v in local["totals"].items() if k not in drop
        }
        assert run_main("report", "memory://bucket/nothing-here")[0] == 2
    finally:
        fs.rm("/bucket", recursive=True)
