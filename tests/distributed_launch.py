"""Runs the processes of a distributed job on 127.0.0.1 for a test: started
together, waited for with a deadline, and always ended.

``run_job(commands_and_envs, timeout, log_dir)`` starts one process per
``(command, env)``, each in its own process group with its output in a file,
and waits until all have exited. When one fails, the others are ended at once
(they would otherwise wait forever in a collective for the one that is gone);
when the deadline passes, all are. Either way ``JobFailed`` carries the tail
of every process's output. ``read_reports`` reads what the processes said
they saw, in ``report_<i>.json`` files.
"""

import contextlib
import json
import os
import signal
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class JobFailed(AssertionError):
    """A process of the job failed or the job overran its deadline."""


def _end(process):
    """Ends ``process``'s group (SIGTERM, then SIGKILL after 5 s) and waits for it."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _tails(paths, chars=3000):
    parts = []
    for index, path in enumerate(paths):
        with open(path, "rb") as f:
            parts.append("--- process %d (%s):\n%s" % (index, path, f.read().decode(errors="replace")[-chars:]))
    return "\n".join(parts)


def run_job(commands_and_envs, timeout, log_dir):
    """Runs the processes and returns their output file paths once all exited with status 0.

    Args:
      commands_and_envs: ``[(argv, extra_env), ...]``, one per process; the
        environment is this one plus ``PYTHONPATH`` = the repository, plus ``extra_env``.
      timeout: Seconds for the whole job.
      log_dir: Where ``process_<i>.log`` (stdout and stderr) go.

    Raises:
      JobFailed: a process exited with a non-zero status, or the deadline passed.
    """
    paths = [os.path.join(log_dir, "process_%d.log" % i) for i in range(len(commands_and_envs))]
    processes = []
    try:
        for (argv, extra_env), path in zip(commands_and_envs, paths):
            env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2", **extra_env)
            with open(path, "wb") as log:
                processes.append(
                    subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                )
        deadline = time.monotonic() + timeout
        while True:
            codes = [process.poll() for process in processes]
            failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                raise JobFailed("process %d exited with status %d\n%s" % (failed[0], codes[failed[0]], _tails(paths)))
            if all(code == 0 for code in codes):
                return paths
            if time.monotonic() > deadline:
                raise JobFailed("the job did not end within %.0f s\n%s" % (timeout, _tails(paths)))
            time.sleep(0.2)
    finally:
        for process in processes:
            _end(process)


def read_reports(workdir, count):
    """``{i: report}`` from ``workdir/report_<i>.json`` for ``i`` in ``range(count)`` (one per process)."""
    reports = {}
    for index in range(count):
        with open(os.path.join(workdir, "report_%d.json" % index)) as f:
            reports[index] = json.load(f)
    return reports
