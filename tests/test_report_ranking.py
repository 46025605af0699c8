"""``deadrelu report --sort/--top/--runs``: one row per run, ranked, with numbers
computed here by numpy from the arrays written (tests/sweep_fixtures.py)."""

import io
import json
import re

import numpy as np
import pytest

from tensorboard_plugin_deadrelu.core import metadata
from tensorboard_plugin_deadrelu.core import ordering
from tensorboard_plugin_deadrelu.report import cli
from tests.sweep_fixtures import RUNS, write_sweep


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("sweep"))
    return path, write_sweep(path)


def run_main(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def expected_row(run, tags):
    """A run's ranking row by numpy over the written arrays."""
    layers = [t for t in tags if not t.endswith(metadata.GRADIENTS_TAG_SUFFIX)]
    units = dead = 0
    worst, worst_share, first_dead, zero_grad, grad_units = None, -1.0, None, None, 0
    for tag in layers:
        steps, count, zeros, _ = tags[tag]
        dead_mask = (zeros == count[:, None]) & (count[:, None] > 0)
        n = int(dead_mask[-1].sum())
        units += zeros.shape[1]
        dead += n
        if n / zeros.shape[1] > worst_share:
            worst, worst_share = tag, n / zeros.shape[1]
        any_dead = np.flatnonzero(dead_mask.any(axis=1))
        if any_dead.size:
            step = int(steps[any_dead[0]])
            first_dead = step if first_dead is None else min(first_dead, step)
        gtag = metadata.gradients_tag(tag)
        if gtag in tags:
            _, gcount, gzeros, _ = tags[gtag]
            zero_grad = (zero_grad or 0) + int(((gzeros[-1] == gcount[-1]) & (gcount[-1] > 0)).sum())
            grad_units += gzeros.shape[1]
    return {
        "run": run, "layers": len(layers), "units": units,
        "latest_step": max(int(tags[t][0][-1]) for t in layers),
        "dead": dead, "dead_share": dead / units,
        "worst_layer": worst, "worst_layer_dead_share": worst_share,
        "first_dead_step": first_dead,
        "zero_gradient": zero_grad,
        "zero_gradient_share": None if zero_grad is None else zero_grad / grad_units,
    }


def expected_rows(written):
    return {run: expected_row(run, tags) for run, tags in written.items()}


SORT_KEYS = {
    "dead": lambda r: (-r["dead"], ordering.natural_key(r["run"])),
    "share": lambda r: (-r["dead_share"], ordering.natural_key(r["run"])),
    "worst": lambda r: (-r["worst_layer_dead_share"], ordering.natural_key(r["run"])),
    "first_death": lambda r: (r["first_dead_step"] is None, r["first_dead_step"] or 0, ordering.natural_key(r["run"])),
    "name": lambda r: ordering.natural_key(r["run"]),
}


@pytest.mark.parametrize("sort", sorted(SORT_KEYS))
def test_json_ranking_has_numpy_numbers_in_the_chosen_order(sweep, sort):
    logdir, written = sweep
    code, out, err = run_main("report", logdir, "--sort", sort, "--json")
    assert code == 0, err
    result = json.loads(out)
    expected = sorted(expected_rows(written).values(), key=SORT_KEYS[sort])
    assert result["runs"] == expected
    assert result["sort"] == sort and result["top"] is None and result["ranked_runs"] == len(RUNS)


def test_the_fixture_exercises_ties_gradients_and_never(sweep):
    _, written = sweep
    rows = expected_rows(written).values()
    firsts = [r["first_dead_step"] for r in rows]
    assert None in firsts and len(set(firsts)) >= 3  # ties and "never" to order
    assert {r["zero_gradient"] is None for r in rows} == {True, False}
    assert len({r["dead"] for r in rows}) < len(RUNS) or len({r["worst_layer_dead_share"] for r in rows}) < len(RUNS)


def test_name_order_is_the_natural_one(sweep):
    code, out, _ = run_main("report", sweep[0], "--sort", "name", "--json")
    names = [r["run"] for r in json.loads(out)["runs"]]
    assert names.index("sweep/lr0.001_wd0_seed3") < names.index("sweep/lr0.01_wd0_seed3")
    assert names.index("sweep/lr0.01_wd0_seed3") < names.index("sweep/lr0.01_wd0_seed10")


def test_top_and_runs_filter(sweep):
    logdir, written = sweep
    code, out, err = run_main("report", logdir, "--runs", r"lr0\.01_", "--top", "2", "--sort", "share", "--json")
    assert code == 0, err
    result = json.loads(out)
    matching = [r for run, r in expected_rows(written).items() if re.search(r"lr0\.01_", run)]
    assert len(matching) == 3
    assert result["runs"] == sorted(matching, key=SORT_KEYS["share"])[:2]
    assert result["ranked_runs"] == 3 and result["top"] == 2 and result["runs_pattern"] == r"lr0\.01_"
    assert result["totals"]["runs"] == 3


def test_text_ranking_rows_and_default_sort_with_top(sweep):
    logdir, written = sweep
    code, out, err = run_main("report", logdir, "--top", "3")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["#", "run", "layers", "units", "dead"]
    assert lines[0].endswith("zero gradient")
    expected = sorted(expected_rows(written).values(), key=SORT_KEYS["dead"])[:3]
    assert len(lines) == 1 + 3 + 1
    for i, (line, row) in enumerate(zip(lines[1:4], expected), 1):
        assert line.split()[:2] == [str(i), row["run"]]
        assert "%d (%.1f%%)" % (row["dead"], 100 * row["dead_share"]) in line
        first = "never" if row["first_dead_step"] is None else str(row["first_dead_step"])
        assert re.search(r"\s%s\s" % re.escape(first), line + " ")
    assert lines[-1].startswith("3 of 6 runs, by dead; 6 runs, 12 layers")


def test_runs_filter_alone_keeps_the_per_layer_table(sweep):
    code, out, _ = run_main("report", sweep[0], "--runs", "^baseline$")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("run") and [l.split()[:2] for l in lines[1:3]] == [["baseline", "dense"], ["baseline", "dense_1"]]
    assert lines[3].startswith("1 run, 2 layers")


def test_no_flags_no_first_dead_step_field(sweep):
    code, out, _ = run_main("report", sweep[0], "--json")
    assert code == 0
    assert all("first_dead_step" not in layer for layer in json.loads(out)["layers"])
    assert "runs_pattern" not in json.loads(out)


@pytest.mark.parametrize("argv, named", [
    (["--runs", "("], "--runs"),
    (["--runs", "[a-"], "--runs"),
    (["--top", "0"], "--top"),
    (["--sort", "deadest"], "--sort"),
])
def test_bad_options_are_usage_errors_naming_the_option(sweep, argv, named, capsys):
    code, out, err = run_main("report", sweep[0], *argv)
    assert code == 2
    assert named in capsys.readouterr().err + err
    assert out == ""


def test_runs_matching_nothing_is_an_error_naming_runs(sweep):
    code, out, err = run_main("report", sweep[0], "--runs", "^nothing", "--sort", "dead")
    assert code == 2 and out == ""
    assert "--runs" in err and "6 runs" in err
