"""A regular (non-editable) ``pip install .`` gives TensorBoard a working tab, and the
plugin's modules import without TensorFlow.

The venv sees the test environment's site-packages (TensorBoard, numpy, through a
``.pth`` file, which also works when the tests themselves run in a venv) so
nothing is downloaded; the package itself is built from a copy of this
checkout, so the build leaves no files in the working tree.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import textwrap
import time
import urllib.request

import numpy as np
import pytest

from tests import eventfiles

pytestmark = pytest.mark.slow  # starts processes: see tests/conftest.py

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN_MODULES = (
    "server.loader", "server.plugin", "server.reader", "core.series", "core.analysis", "server.encoding",
    "server.responses", "core.metadata", "report.cli",
)
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONPATH="")


def run(args, cwd, **kwargs):
    result = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A venv with the package installed from a copy of the checkout; returns (python, site dir, workdir)."""
    work = tmp_path_factory.mktemp("install")
    source = work / "src"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", "logs", "node_modules", ".pytest_cache"),
    )
    env_dir = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], cwd=work)
    python = str(env_dir / "bin" / "python")
    # pip, setuptools and TensorBoard come from the environment running the tests
    # (a path in a .pth file: the editable install of this checkout there is not
    # seen, since only site directories' own .pth files run).
    own_site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=work).strip()
    with open(os.path.join(own_site, "test_environment.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    run([python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", str(source)], cwd=work)
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=work).strip()
    return python, site, work


def test_installed_package_entry_point_and_frontend_resolve_to_the_venv(venv):
    python, site, work = venv
    probe = textwrap.dedent(
        """
        import json
        from importlib import metadata
        (ep,) = [e for e in metadata.entry_points(group="tensorboard_plugins") if e.name == "deadrelu"]
        loader_class = ep.load()
        import sys
        from tensorboard_plugin_deadrelu.server import plugin
        print(json.dumps({
            "entry_point": ep.value,
            "loader_file": sys.modules[loader_class.__module__].__file__,
            "frontend": plugin.frontend_folder(),
        }))
        """
    )
    found = json.loads(run([python, "-c", probe], cwd=work))
    package = os.path.join(site, "tensorboard_plugin_deadrelu")
    assert found["entry_point"] == "tensorboard_plugin_deadrelu.server.loader:DeadReluLoader"
    assert found["loader_file"] == os.path.join(package, "server", "loader.py")
    assert found["frontend"] == os.path.join(package, "frontend")
    assert os.path.isfile(os.path.join(package, "frontend", "index.js"))


def test_the_venvs_tensorboard_serves_the_tab(venv, tmp_path):
    python, site, work = venv
    eventfiles.write_records(
        str(tmp_path / "logs" / "run"), "dense", [(0, {"count": 2, "zeros": np.array([2, 0]), "abs_sum": np.array([0.0, 1.0]), "nonfinite": np.zeros(2)})]
    )
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = "http://127.0.0.1:%d" % port
    process = subprocess.Popen(
        [python, "-m", "tensorboard.main", "--logdir", str(tmp_path / "logs"), "--port", str(port), "--host", "127.0.0.1", "--load_fast=false"],
        cwd=work, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        listing = None
        while time.monotonic() < deadline and listing is None:
            assert process.poll() is None, "tensorboard exited with %s" % process.returncode
            try:
                with urllib.request.urlopen(base + "/data/plugins_listing", timeout=10) as r:
                    listing = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
        assert listing is not None, "tensorboard did not answer"
        assert listing["deadrelu"]["enabled"] is True
        with urllib.request.urlopen(base + "/data/plugin/deadrelu/static/index.js", timeout=10) as r:
            assert r.headers["Content-Type"].startswith("text/javascript")
            served = r.read()
        with open(os.path.join(site, "tensorboard_plugin_deadrelu", "frontend", "index.js"), "rb") as f:
            assert served == f.read()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_plugin_modules_import_and_serve_without_tensorflow(tmp_path):
    eventfiles.write_records(
        str(tmp_path / "run"), "dense", [(3, {"count": 4, "zeros": np.array([4, 1]), "abs_sum": np.array([0.0, 2.5]), "nonfinite": np.zeros(2)})]
    )
    script = textwrap.dedent(
        """
        import json, sys
        sys.modules["tensorflow"] = None  # any `import tensorflow` now fails
        for name in %r:
            __import__("tensorboard_plugin_deadrelu." + name)
        from tensorboard import context
        from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
        from tensorboard_plugin_deadrelu.server import reader
        mx = plugin_event_multiplexer.EventMultiplexer()
        mx.AddRunsFromDirectory(sys.argv[1]); mx.Reload()
        reader = reader.SeriesReader(data_provider.MultiplexerDataProvider(mx, sys.argv[1]), None)
        s = reader.series(context.RequestContext(), "", "run", "dense")
        print(json.dumps({"zeros": s.zeros.tolist(), "steps": s.steps.tolist()}))
        """
        % (PLUGIN_MODULES,)
    )
    out = json.loads(run([sys.executable, "-c", script, str(tmp_path)], cwd=str(tmp_path)))
    assert out == {"zeros": [[4, 1]], "steps": [3]}


def test_importing_the_plugin_does_not_load_tensorflow(tmp_path):
    script = "import sys\n" + "".join("import tensorboard_plugin_deadrelu.%s\n" % m for m in PLUGIN_MODULES)
    script += "print(sorted(m for m in sys.modules if m == 'tensorflow' or m.startswith('tensorflow.')))"
    assert run([sys.executable, "-c", script], cwd=str(tmp_path)).strip() == "[]"
