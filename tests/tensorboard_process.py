"""A real ``tensorboard`` process on a free loopback port, for end-to-end tests,
benchmarks and ``docs/screenshot.py``.

``running(logdir, *flags)`` starts ``python -m tensorboard.main`` on 127.0.0.1 and
stops it (with the fast loader's data server) when the block ends, however it
ends; ``wait_until`` polls a condition such as "the tags route lists these runs"
while checking that the process is still alive. Benchmarks and scripts outside
``tests/`` import this module by putting the repository root on ``sys.path``.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HOST = "127.0.0.1"
TAGS_ROUTE = "/data/plugin/deadrelu/tags"


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class TensorBoard:
    """One started ``tensorboard`` process: ``process`` (``Popen``) and ``url`` (``http://127.0.0.1:PORT``)."""

    def __init__(self, logdir, flags, log_path=None):
        port = free_port()
        self.url = "http://%s:%d" % (HOST, port)
        self._log = open(log_path, "wb") if log_path else None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", HOST,
             "--port", str(port), *flags],
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            # Its own process group, so that stop() also ends the fast loader's data server.
            start_new_session=True,
        )

    def stop(self):
        """Ends the process group (SIGTERM, then SIGKILL after 10 s) and waits for it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if self._log:
            self._log.close()


@contextlib.contextmanager
def running(logdir, *flags, log_path=None):
    """Yields a :class:`TensorBoard` serving ``logdir`` with extra command-line ``flags``
    (output to ``log_path`` if given, else discarded); stops it when the block ends."""
    tensorboard = TensorBoard(logdir, flags, log_path)
    try:
        yield tensorboard
    finally:
        tensorboard.stop()


def get_json(url, timeout=10):
    """The JSON body at ``url`` (raises ``urllib.error.HTTPError`` for a status >= 400)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def deadrelu_runs(url):
    """The runs that the Dead ReLU tags route of the TensorBoard at ``url`` lists now."""
    return set(get_json(url + TAGS_ROUTE))


def wait_until(condition, what, timeout, processes=(), interval=0.5):
    """Calls ``condition()`` every ``interval`` s until it returns something true, and returns that.

    Errors from a server that is not answering yet or still loading (``OSError``,
    ``ValueError``, ``KeyError``) count as "not yet". Raises ``RuntimeError`` if one
    of ``processes`` exits meanwhile, ``TimeoutError`` after ``timeout`` s.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError("tensorboard exited with %s while waiting for %s" % (process.returncode, what))
        try:
            value = condition()
            if value:
                return value
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(interval)
    raise TimeoutError("timed out after %.0f s waiting for %s" % (timeout, what))


def wait_for_runs(tensorboard, runs, timeout=90, exact=True):
    """Waits until the Dead ReLU tags route lists exactly ``runs`` (or, with
    ``exact=False``, at least ``runs``)."""
    runs = set(runs)
    wait_until(
        lambda: deadrelu_runs(tensorboard.url) == runs if exact else runs <= deadrelu_runs(tensorboard.url),
        "%s to serve runs %s" % (tensorboard.url, sorted(runs)),
        timeout,
        processes=[tensorboard.process],
    )
