"""``deadrelu report --plot OUTDIR``: PNG files whose cells have the tab's colours,
checked pixel by pixel against colours computed here from the arrays written."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from tensorboard_plugin_deadrelu.core import colors
from tensorboard_plugin_deadrelu.report import cli
from tensorboard_plugin_deadrelu.report import plot
from tests.sweep_fixtures import RUNS, UNITS, write_sweep

pytest.importorskip("matplotlib")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def plotted(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("sweep"))
    written = write_sweep(logdir)
    outdir = str(tmp_path_factory.mktemp("figures"))
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["report", logdir, "--plot", outdir, "--runs", r"lr0\.01_wd0_seed3$|lr0\.1_"], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    return logdir, written, outdir, err.getvalue()


def read_png(path):
    import matplotlib.image

    image = matplotlib.image.imread(path)
    return np.round(image[..., :3] * 255).astype(int)


def cell_colours(image, rows, cols):
    """``[rows, cols, 3]``: every pixel of every cell, checked to be one colour, and that colour."""
    box = plot.geometry(rows, cols)
    assert image.shape[:2] == (box["height"], box["width"])
    out = np.zeros((rows, cols, 3), int)
    ch, cw = box["cell_height"], box["cell_width"]
    for r in range(rows):
        for c in range(cols):
            block = image[box["top"] + r * ch: box["top"] + (r + 1) * ch, box["left"] + c * cw: box["left"] + (c + 1) * cw]
            assert (block == block[0, 0]).all(), (r, c)
            out[r, c] = block[0, 0]
    return out


def test_file_tree_with_sanitised_names(plotted):
    _, _, outdir, err = plotted
    tree = sorted(os.path.relpath(os.path.join(d, f), outdir) for d, _, files in os.walk(outdir) for f in files)
    runs = ["sweep_lr0.01_wd0_seed3", "sweep_lr0.1_wd0_seed3"]
    assert tree == sorted(os.path.join(r, f) for r in runs for f in ("network.png", "dense.png", "dense_1.png"))
    assert "wrote 6 PNG files under" in err


def test_layer_png_cells_are_the_tabs_colours_of_known_cells(plotted):
    _, written, outdir, _ = plotted
    run = "sweep/lr0.01_wd0_seed3"
    for tag in ("dense", "dense_1"):
        steps, count, zeros, _ = written[run][tag]
        image = read_png(os.path.join(outdir, "sweep_lr0.01_wd0_seed3", tag + ".png"))
        got = cell_colours(image, UNITS[tag], len(steps))
        for u in range(UNITS[tag]):
            for s in range(len(steps)):
                if count[s] == 0:
                    expected = colors.NO_DATA_RGB
                elif zeros[s, u] == count[s]:
                    expected = colors.DEAD_RGB
                elif zeros[s, u] / count[s] >= 0.99:
                    expected = colors.NEARLY_DEAD_RGB
                else:
                    expected = colors.scale_rgb(zeros[s, u] / count[s]).tolist()
                assert got[u, s].tolist() == list(expected), (tag, u, s)
    # the fixture has dead cells, a no-data step and scale cells in this run
    assert (got == colors.NO_DATA_RGB).all(axis=-1).any()


def test_known_cells_by_hand(plotted):
    _, written, outdir, _ = plotted
    steps, count, zeros, _ = written["sweep/lr0.1_wd0_seed3"]["dense"]
    got = cell_colours(read_png(os.path.join(outdir, "sweep_lr0.1_wd0_seed3", "dense.png")), 8, len(steps))
    dead = [(u, s) for u in range(8) for s in range(len(steps)) if zeros[s, u] == count[s]]
    alive = [(u, s) for u in range(8) for s in range(len(steps)) if zeros[s, u] < count[s]]
    assert dead and alive
    for u, s in dead:
        assert got[u, s].tolist() == [230, 81, 0]
    for u, s in alive:  # 0..5 zeros of 6: the Blues scale at z/6, e.g. 0 -> (247, 251, 255)
        assert got[u, s].tolist() != [230, 81, 0]
        if zeros[s, u] == 0:
            assert got[u, s].tolist() == [247, 251, 255]
        if zeros[s, u] == 3:
            assert got[u, s].tolist() == [107, 174, 214]


def test_network_png_rows_are_layers_coloured_by_dead_share(plotted):
    _, written, outdir, _ = plotted
    run = "sweep/lr0.01_wd0_seed3"
    tags = ["dense", "dense_1"]
    steps = sorted(set().union(*(written[run][t][0].tolist() for t in tags)))
    got = cell_colours(read_png(os.path.join(outdir, "sweep_lr0.01_wd0_seed3", "network.png")), 2, len(steps))
    for row, tag in enumerate(tags):
        layer_steps, count, zeros, _ = written[run][tag]
        for col, step in enumerate(steps):
            if step not in layer_steps.tolist():
                expected = colors.NO_DATA_RGB
            else:
                i = layer_steps.tolist().index(step)
                if count[i] == 0:
                    expected = colors.NO_DATA_RGB
                else:
                    share = ((zeros[i] == count[i]).sum()) / zeros.shape[1]
                    expected = colors.NONE_GONE_RGB if share == 0 else colors.share_rgb(share).tolist()
            assert got[row, col].tolist() == list(expected), (tag, step)


def test_safe_names():
    assert plot.safe_name('a/b\\c:d*e?f"g<h>i|j') == "a_b_c_d_e_f_g_h_i_j"
    assert plot.safe_name(".") == "_" and plot.safe_name("..") == "__"
    assert plot.safe_name("lr0.01") == "lr0.01"


MISSING_MATPLOTLIB = """
import sys
sys.modules["matplotlib"] = None
from tensorboard_plugin_deadrelu.report import cli
sys.exit(cli.main(["report", sys.argv[1], "--plot", sys.argv[2]]))
"""


def test_missing_matplotlib_is_a_usage_error_naming_the_extra(plotted, tmp_path):
    logdir = plotted[0]
    result = subprocess.run(
        [sys.executable, "-c", MISSING_MATPLOTLIB, logdir, str(tmp_path / "out")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert 'pip install "tensorboard-plugin-deadrelu[plot]"' in result.stderr
    assert "matplotlib" in result.stderr and result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_plot_with_top_draws_only_the_ranked_runs(plotted, tmp_path):
    logdir = plotted[0]
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["report", logdir, "--sort", "dead", "--top", "1", "--plot", str(tmp_path)], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    assert out.getvalue().splitlines()[1].split()[:2] == ["1", "sweep/lr0.1_wd0_seed3"]
    assert sorted(os.listdir(tmp_path)) == ["sweep_lr0.1_wd0_seed3"]


def test_report_without_plot_does_not_import_matplotlib(plotted):
    code = ("import sys\nfrom tensorboard_plugin_deadrelu.report import cli\n"
            "code = cli.main(['report', sys.argv[1], '--sort', 'dead'])\n"
            "assert 'matplotlib' not in sys.modules\nsys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code, plotted[0]], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
