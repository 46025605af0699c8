"""``deadrelu report LOGDIR``: dead and dormant units per layer, without a browser.

Reads the event files under LOGDIR directly (no TensorBoard server, no
TensorFlow; see ``logdir_reader.py``) and prints, per run and layer:

* units;
* dead now: units dead at the latest step (count and share);
* dead at first: units dead at the first step recorded (usually step 0);
* fully dead at: the first step at which every unit of the layer was dead;
* dormant now: units whose τ-dormant score (Sokar et al. 2023) is ``<= --tau``
  at the latest step;
* after the table, per layer whose units were recycled (ReDo, the torch
  monitor's ``recycle``): ``recycled: N units at steps ...``.

``--json`` prints the same as one JSON object (schema in :func:`build_report`).
``--sort COLUMN`` / ``--top N`` print one ranked row per run instead
(``report/ranking.py``; JSON in :func:`ranking_report`), ``--runs REGEX``
keeps only matching runs, and ``--plot OUTDIR`` also writes the tab's
heatmaps as PNG files (``report/plot.py``, needs the ``[plot]`` extra).
``--fail-above FRACTION`` turns the report into a check for CI or a training
script: exit code 1 when a layer's dead share at its latest step exceeds
FRACTION.

Exit codes: 0 report printed (and no layer above ``--fail-above``);
1 a layer is above ``--fail-above``; 2 usage or input error (bad option,
LOGDIR missing or holding no Dead ReLU records).

Run it as ``deadrelu report LOGDIR`` or
``python -m tensorboard_plugin_deadrelu.report LOGDIR``.
"""

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import sys
import time

from tensorboard_plugin_deadrelu.core import analysis
from tensorboard_plugin_deadrelu.report import logdir_reader
from tensorboard_plugin_deadrelu.report import plot
from tensorboard_plugin_deadrelu.report import ranking
from tensorboard_plugin_deadrelu.core import metadata

# Bump when a field of the JSON report changes meaning or disappears.
JSON_SCHEMA_VERSION = 1

EXIT_OK = 0
EXIT_THRESHOLD_EXCEEDED = 1
EXIT_USAGE = 2

# Event file total from which runs are read in parallel processes by default,
# per TFRecord reader. Below it, starting the workers costs more than it saves
# (benchmarks/bench_report.py): a worker starts in ~0.5 s and the pure-Python
# reader does ~10 MB per CPU-second; with TensorFlow's reader every worker
# imports TensorFlow (~3 s) and reads ~100 MB per CPU-second.
PARALLEL_MIN_BYTES = {"python": 32 * 2**20, "tensorflow": 512 * 2**20}

# How many skipped records and damaged files are listed one by one on stderr.
MAX_LISTED_PROBLEMS = 10


class ReportError(Exception):
    """An input problem that ends the command with exit code 2; the message says what."""


def summarize_series(series, tau):
    """The report's numbers for one ``series.Series`` with at least one step.

    Returns:
      A JSON-ready dict; see :func:`build_report` for the fields.
    """
    units = series.units
    summary = analysis.summarize_layer(series, tau=tau)
    dead_now = int(summary.dead[-1])
    dead_at_first = int(summary.dead[0])
    dormant_now = int(summary.dormant[-1])
    return {
        "run": series.run,
        "layer": series.tag,
        "order": series.order,
        "units": units,
        "steps": int(series.steps.shape[0]),
        "first_step": int(series.steps[0]),
        "latest_step": int(series.steps[-1]),
        "dead_now": dead_now,
        "dead_now_share": _share(dead_now, units),
        "dead_at_first_step": dead_at_first,
        "dead_at_first_step_share": _share(dead_at_first, units),
        "first_fully_dead_step": summary.first_fully_dead_step,
        "dormant_now": dormant_now,
        "dormant_now_share": _share(dormant_now, units),
        "skipped_records": len(series.skipped),
        # Only in the ranking's per-run numbers (build_report drops it otherwise).
        "first_dead_step": _first_dead_step(series.steps, summary.dead),
    }


def _first_dead_step(steps, dead_counts):
    """The first step at which a unit of the layer was dead, or None."""
    dead_at = dead_counts.nonzero()[0]
    return int(steps[dead_at[0]]) if dead_at.size else None


def summarize_gradients(series):
    """The report's gradient numbers for a layer: units whose ∂loss/∂pre-activation
    was exactly zero on every probe input at the gradient series' latest step.

    Returns:
      ``{"zero_gradient_now": int|None, "zero_gradient_now_share": float|None}``;
      None when the layer has no gradient records.
    """
    if series is None:
        return {"zero_gradient_now": None, "zero_gradient_now_share": None}
    zero_now = int(analysis.summarize_gradients(series).zero[-1])
    return {"zero_gradient_now": zero_now, "zero_gradient_now_share": _share(zero_now, series.units)}


def summarize_recycled(series):
    """The report's recycling numbers for a layer from its ``<layer>/recycled`` series (or None).

    Returns:
      ``{"recycled_units": int, "recycled_steps": [[step, units reset], ...]}``
      (0 and ``[]`` when the layer has no recycled records).
    """
    if series is None:
        return {"recycled_units": 0, "recycled_steps": []}
    summary = analysis.summarize_recycled(series)
    return {
        "recycled_units": summary.total,
        "recycled_steps": [[int(step), int(units.shape[0])] for step, units in zip(summary.steps, summary.units)],
    }


def _share(part, whole):
    return part / whole if whole else 0.0


def summarize_run(run, paths, reader, tau):
    """Reads one run and returns its part of the report (JSON-ready, small).

    Runs in a worker process when runs are read in parallel, so that only the
    per-layer numbers travel back, not the stacked arrays.
    """
    contents = logdir_reader.read_run(run, paths, reader)
    layers, skipped = [], []
    skipped += [{"run": s.run, "layer": s.tag, "step": s.step, "reason": s.reason} for s in contents.skipped]
    gradients = {
        series.tag: series
        for series in contents.series
        if series.kind == metadata.KIND_GRADIENTS and series.steps.shape[0]
    }
    recycled = {
        series.tag: series
        for series in contents.series
        if series.kind == metadata.KIND_RECYCLED and series.steps.shape[0]
    }
    for series in contents.series:
        skipped += [
            {"run": series.run, "layer": series.tag, "step": s.step, "reason": s.reason} for s in series.skipped
        ]
        if series.kind == metadata.KIND_ACTIVATIONS and series.steps.shape[0]:
            layer = summarize_series(series, tau)
            layer.update(summarize_gradients(gradients.get(metadata.gradients_tag(series.tag))))
            layer.update(summarize_recycled(recycled.get(metadata.recycled_tag(series.tag))))
            layers.append(layer)
    return {
        "layers": layers,
        "skipped_records": skipped,
        "damaged_files": [{"path": d.path, "reason": d.reason} for d in contents.damaged_files],
        "files": contents.files,
        "events": contents.events,
        "records": contents.records,
        "bytes": contents.bytes,
    }


def choose_jobs(runs, reader, jobs=None):
    """How many processes read ``runs`` (as :func:`logdir_reader.find_runs` lists them).

    ``jobs=None`` means: one per CPU (at most one per run) once the event files
    total :data:`PARALLEL_MIN_BYTES` for ``reader`` (``"python"`` or
    ``"tensorflow"``), otherwise 1.
    """
    if jobs is not None:
        if jobs < 1:
            raise ValueError("jobs must be >= 1, got %r" % (jobs,))
        return min(jobs, max(len(runs), 1))
    paths = [p for paths in runs.values() for p in paths]
    if paths and logdir_reader.is_url(paths[0]):
        # A worker process would open its own connection per run (and cannot
        # see an in-memory file system): read remote logdirs in this process.
        return 1
    total = sum(logdir_reader.file_size(p) for p in paths)
    if total < PARALLEL_MIN_BYTES[reader]:
        return 1
    return max(1, min(os.cpu_count() or 1, len(runs)))


def build_report(logdir, tau=analysis.DEFAULT_TAU, fail_above=None, reader="auto", jobs=None,
                 runs_pattern=None, first_dead_steps=False):
    """Reads ``logdir`` and returns the report as a JSON-ready dict.

    Args:
      logdir: A local folder or a URL (``gs://``, ``s3://``, any fsspec
        protocol), as given to ``tensorboard --logdir``.
      tau: Dormant threshold (``>= 0``) on the τ-dormant score.
      fail_above: Optional fraction in [0, 1]; layers whose dead share at their
        latest step exceeds it are listed in ``failing_layers``.
      reader: TFRecord reader, see ``logdir_reader.choose_reader``.
      jobs: Processes reading runs in parallel; None chooses (see
        :func:`choose_jobs`).
      runs_pattern: None, or a regular expression (text or compiled): only
        runs whose name it matches (``re.search``) are read.
      first_dead_steps: Also give each layer ``first_dead_step``, the first
        step at which one of its units was dead (null when none ever was);
        what the ranking (``report/ranking.py``) needs.

    The schema (``schema_version`` 1; fields are only added within a version):

    * ``schema_version`` (int), ``logdir`` (str), ``tau`` (float),
      ``fail_above`` (float or null);
    * ``layers``: one object per (run, layer), runs in natural name order
      (``run_2`` before ``run_10``), layers in model order (then naturally
      by name, as in the tab):
      ``run``, ``layer`` (the tag), ``order`` (int or null), ``units``,
      ``steps`` (how many were read), ``first_step``, ``latest_step``,
      ``dead_now`` / ``dead_now_share`` (units dead at ``latest_step``, and
      that count divided by ``units``), ``dead_at_first_step`` /
      ``dead_at_first_step_share``, ``first_fully_dead_step`` (int or null
      for never), ``dormant_now`` / ``dormant_now_share`` (units with
      τ-dormant score ``<= tau`` at ``latest_step``), ``zero_gradient_now`` /
      ``zero_gradient_now_share`` (units whose gradient was exactly zero on
      every probe input at the layer's latest gradient record; null when the
      layer has no gradient records), ``recycled_units`` (units reset by a
      recycling, summed over steps; 0 for none) and ``recycled_steps``
      (``[[step, units reset], ...]``), ``skipped_records``,
      ``above_fail_above`` (bool; false without ``fail_above``). Gradient
      series (``<layer>/gradients``) and recycled series
      (``<layer>/recycled``) are not layers of their own;
    * ``failing_layers``: ``[{"run", "layer", "dead_now_share"}]`` of the
      layers above ``fail_above``;
    * ``skipped_records``: ``[{"run", "layer", "step", "reason"}]`` of
      records that could not be used (they count nowhere else);
    * ``damaged_files``: ``[{"path", "reason"}]`` of event files whose end
      could not be read;
    * ``runs_pattern``: only with ``runs_pattern``, the pattern's text;
    * ``totals``: ``runs``, ``layers``, ``files``, ``events``, ``records``
      (Dead ReLU records found, skipped ones included), ``bytes`` read and
      ``seconds`` taken.

    Raises:
      ReportError: ``logdir`` does not exist, is not a directory, holds no
        readable Dead ReLU records or no run matching ``runs_pattern``.
      ValueError: an argument is out of range; the message names it.
    """
    started = time.perf_counter()
    if not isinstance(tau, (int, float)):
        raise ValueError("tau must be a finite number >= 0, got %r" % (tau,))
    tau = analysis.check_tau(tau)
    if fail_above is not None and not (isinstance(fail_above, (int, float)) and 0 <= fail_above <= 1):
        raise ValueError("fail_above must be None or a number in [0, 1], got %r" % (fail_above,))
    try:
        runs = logdir_reader.find_runs(logdir)
    except logdir_reader.LogdirError as e:
        raise ReportError(str(e)) from None
    if runs_pattern is not None:
        pattern = ranking.compile_runs_pattern(runs_pattern) if isinstance(runs_pattern, str) else runs_pattern
        matching = {run: paths for run, paths in runs.items() if pattern.search(run)}
        if not matching:
            raise ReportError("no run under %s matches --runs %r (%s there)" % (
                logdir, pattern.pattern, _plural(len(runs), "run")))
        runs = matching
    chosen_reader = logdir_reader.choose_reader(runs, reader)
    jobs = choose_jobs(runs, chosen_reader, jobs)
    arguments = [(run, paths, chosen_reader, tau) for run, paths in runs.items()]
    if jobs > 1:
        # "spawn": the same on every OS, and safe whatever threads the caller runs.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
            parts = list(pool.map(summarize_run, *zip(*arguments)))
    else:
        parts = [summarize_run(*a) for a in arguments]

    layers, skipped, damaged = [], [], []
    totals = {"runs": 0, "layers": 0, "files": 0, "events": 0, "records": 0, "bytes": 0}
    for part in parts:
        layers += part["layers"]
        skipped += part["skipped_records"]
        damaged += part["damaged_files"]
        for key in ("files", "events", "records", "bytes"):
            totals[key] += part[key]
        totals["runs"] += 1 if part["layers"] else 0
        totals["layers"] += len(part["layers"])
    if not layers:
        raise ReportError(_no_records_message(logdir, totals, skipped, damaged))
    failing = []
    for layer in layers:
        layer["above_fail_above"] = fail_above is not None and layer["dead_now_share"] > fail_above
        if layer["above_fail_above"]:
            failing.append({k: layer[k] for k in ("run", "layer", "dead_now_share")})
    if not first_dead_steps:
        for layer in layers:
            del layer["first_dead_step"]
    totals["seconds"] = time.perf_counter() - started
    report = {
        "schema_version": JSON_SCHEMA_VERSION,
        "logdir": str(logdir),
        "tau": tau,
        "fail_above": fail_above,
        "layers": layers,
        "failing_layers": failing,
        "skipped_records": skipped,
        "damaged_files": damaged,
        "totals": totals,
    }
    if runs_pattern is not None:
        report["runs_pattern"] = pattern.pattern
    return report


def _no_records_message(logdir, totals, skipped, damaged):
    if totals["files"] == 0:
        return "no Dead ReLU records under %s: it holds no event files" % logdir
    message = "no Dead ReLU records under %s (%s, %s read)" % (
        logdir, _plural(totals["files"], "event file"), _plural(totals["events"], "event"),
    )
    if skipped:
        message += "; skipped %s, e.g. %s" % (_plural(len(skipped), "record"), skipped[0]["reason"])
    if damaged:
        message += "; %s damaged, e.g. %s: %s" % (
            _plural(len(damaged), "event file"), damaged[0]["path"], damaged[0]["reason"],
        )
    return message


# --------------------------------------------------------------------------
# Text output

_COLUMNS = ("run", "layer", "units", "steps", "dead now", "dead at first", "fully dead at", "dormant now")
_GRADIENT_COLUMN = "zero gradient now"


def format_table(report):
    """The report's layers as an aligned plain-text table (one line per layer)."""
    rows = [
        (
            layer["run"],
            layer["layer"],
            str(layer["units"]),
            "%d-%d" % (layer["first_step"], layer["latest_step"]),
            _count_and_share(layer["dead_now"], layer["dead_now_share"]),
            _count_and_share(layer["dead_at_first_step"], layer["dead_at_first_step_share"]),
            "never" if layer["first_fully_dead_step"] is None else str(layer["first_fully_dead_step"]),
            _count_and_share(layer["dormant_now"], layer["dormant_now_share"]),
        )
        for layer in report["layers"]
    ]
    header = _COLUMNS[:-1] + ("dormant now (tau=%g)" % report["tau"],)
    if any(layer["zero_gradient_now"] is not None for layer in report["layers"]):
        header += (_GRADIENT_COLUMN,)
        rows = [
            row + ("-" if layer["zero_gradient_now"] is None
                   else _count_and_share(layer["zero_gradient_now"], layer["zero_gradient_now_share"]),)
            for row, layer in zip(rows, report["layers"])
        ]
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
    numeric = {2, 4, 5, 7, 8}  # right-aligned columns
    lines = []
    for row in [header] + rows:
        cells = [
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def format_recycled(report):
    """Lines after the table, one per layer whose units were recycled:
    ``recycled: run R, layer L: N units at steps S1 (n1), S2 (n2), ...`` (none when nothing was)."""
    lines = []
    for layer in report["layers"]:
        if layer.get("recycled_units"):
            lines.append("recycled: run %s, layer %s: %s at steps %s" % (
                layer["run"], layer["layer"], _plural(layer["recycled_units"], "unit"),
                ", ".join("%d (%d)" % (step, units) for step, units in layer["recycled_steps"]),
            ))
    return lines


def _count_and_share(count, share):
    return "%d (%.1f%%)" % (count, 100.0 * share)


def format_footer(report):
    """One line saying what was read, and how fast."""
    totals = report["totals"]
    seconds = totals["seconds"]
    return "%s, %s: %s in %s (%.1f MB) read in %.2f s" % (
        _plural(totals["runs"], "run"), _plural(totals["layers"], "layer"),
        _plural(totals["records"], "record"), _plural(totals["files"], "event file"),
        totals["bytes"] / 1e6, seconds,
    )


def _plural(count, noun):
    return "%d %s%s" % (count, noun, "" if count == 1 else "s")


def format_problems(report):
    """Lines for stderr about skipped records and damaged files (empty when none)."""
    skipped = [
        "run %s, layer %s, step %d: %s" % (s["run"], s["layer"], s["step"], s["reason"]) for s in report["skipped_records"]
    ]
    damaged = ["%s: %s" % (d["path"], d["reason"]) for d in report["damaged_files"]]
    return _warning("skipped %s:" % _plural(len(skipped), "Dead ReLU record"), skipped) + _warning(
        "could not read %s to the end:" % _plural(len(damaged), "event file"), damaged
    )


def _warning(headline, items):
    """A ``warning:`` headline with the first items indented below it; no lines without items."""
    if not items:
        return []
    lines = ["warning: " + headline] + ["  " + item for item in items[:MAX_LISTED_PROBLEMS]]
    if len(items) > MAX_LISTED_PROBLEMS:
        lines.append("  ... and %d more (see --json)" % (len(items) - MAX_LISTED_PROBLEMS))
    return lines


# --------------------------------------------------------------------------
# Command line


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number in [0, 1], got %r" % text) from None
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise argparse.ArgumentTypeError("must be in [0, 1], got %r" % text)
    return value


def _tau(text):
    try:
        return analysis.check_tau(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a finite number >= 0, got %r" % text) from None


def _jobs(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number >= 1, got %r" % text) from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1, got %r" % text)
    return value


def make_parser():
    """The ``deadrelu`` argument parser (one subcommand: ``report``)."""
    parser = argparse.ArgumentParser(
        prog="deadrelu",
        description="Dead ReLU: per-unit dead-neuron statistics from TensorBoard logs.",
    )
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    report = subcommands.add_parser(
        "report",
        help="print dead and dormant units per run and layer",
        description=(
            "Print, per run and layer of LOGDIR, the units that are dead (output exactly 0 "
            "on every input) and dormant (tau-dormant score of Sokar et al. 2023 <= TAU) "
            "at the latest step, how many were dead at the first step, and when the layer "
            "first died entirely. Reads event files directly; no TensorBoard server needed. "
            "When several event files of a run hold the same step, the later file wins."
        ),
        epilog=(
            "exit codes: 0 report printed; 1 a layer's dead share exceeds --fail-above; "
            "2 usage or input error (LOGDIR missing or without Dead ReLU records)"
        ),
    )
    report.add_argument("logdir", metavar="LOGDIR", help="the folder given to tensorboard --logdir")
    report.add_argument(
        "--tau", type=_tau, default=analysis.DEFAULT_TAU,
        help="dormant threshold on the score mean|a_u| / layer mean of mean|a| (default %(default)s)",
    )
    report.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    report.add_argument(
        "--fail-above", type=_fraction, default=None, metavar="FRACTION",
        help="exit with code 1 when any layer's dead share at its latest step exceeds FRACTION (0..1)",
    )
    report.add_argument(
        "--jobs", type=_jobs, default=None, metavar="N",
        help="read runs in N processes (default: one per CPU on large logdirs, else 1)",
    )
    ranked = report.add_argument_group(
        "ranking of runs",
        "--sort or --top print one row per run instead of one per layer: layers, units, dead units "
        "and share at each layer's latest step, the worst layer, the first step at which any unit "
        "was dead, and zero-gradient units where gradient records exist",
    )
    ranked.add_argument(
        "--sort", choices=ranking.SORT_COLUMNS, default=None,
        help="rank runs by dead units, dead share, worst layer's dead share (descending), "
        "first death (ascending) or name; ties by name (default with --top: dead)",
    )
    ranked.add_argument("--top", type=_jobs, default=None, metavar="N", help="keep the first N runs of the ranking")
    report.add_argument(
        "--runs", type=_runs_pattern, default=None, metavar="REGEX",
        help="only runs whose name matches REGEX (Python re.search), e.g. 'lr0\\.01_'",
    )
    report.add_argument(
        "--plot", default=None, metavar="OUTDIR",
        help="also write PNG heatmaps: OUTDIR/<run>/network.png (layers x steps, dead share) and "
        "OUTDIR/<run>/<layer>.png (units x steps, the tab's colours); needs matplotlib: "
        "pip install \"tensorboard-plugin-deadrelu[plot]\"",
    )
    return parser


def _runs_pattern(text):
    try:
        return ranking.compile_runs_pattern(text)
    except ranking.RankingError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv=None, stdout=None, stderr=None):
    """Runs the ``deadrelu`` command; returns its exit code.

    Args:
      argv: Arguments without the program name (default ``sys.argv[1:]``).
      stdout, stderr: Where to print (default ``sys.stdout`` / ``sys.stderr``).
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed usage (or --help) already
        return EXIT_USAGE if e.code else EXIT_OK
    ranked = args.sort is not None or args.top is not None
    try:
        if args.plot is not None:
            plot.check_matplotlib()
        report = build_report(
            args.logdir, tau=args.tau, fail_above=args.fail_above, jobs=args.jobs,
            runs_pattern=args.runs, first_dead_steps=ranked,
        )
    except (ReportError, plot.PlotError) as e:
        print("deadrelu report: error: %s" % e, file=stderr)
        return EXIT_USAGE
    if ranked:
        output = ranking_report(report, args.sort or "dead", args.top)
        shown_runs = [row["run"] for row in output["runs"]]
    else:
        output = report
        shown_runs = list(dict.fromkeys(layer["run"] for layer in report["layers"]))
    try:
        if args.json:
            json.dump(output, stdout, indent=2)
            stdout.write("\n")
        elif ranked:
            print(ranking.format_ranking(output["runs"]), file=stdout)
            print("%d of %s, by %s; %s" % (
                len(output["runs"]), _plural(output["ranked_runs"], "run"), output["sort"], format_footer(report),
            ), file=stdout)
        else:
            print(format_table(report), file=stdout)
            for line in format_recycled(report):
                print(line, file=stdout)
            print(format_footer(report), file=stdout)
        stdout.flush()
    except BrokenPipeError:
        # The reader went away (``deadrelu report logs | head``): not our
        # error. Point stdout at devnull so the interpreter's final flush
        # does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
    for line in format_problems(report) + format_failures(report):
        print(line, file=stderr)
    if args.plot is not None:
        try:
            written = plot.plot_runs(args.logdir, shown_runs, args.plot)
        except (plot.PlotError, OSError) as e:
            print("deadrelu report: error: %s" % e, file=stderr)
            return EXIT_USAGE
        print("deadrelu report: wrote %s under %s" % (_plural(len(written), "PNG file"), args.plot), file=stderr)
    return EXIT_THRESHOLD_EXCEEDED if report["failing_layers"] else EXIT_OK


def ranking_report(report, sort="dead", top=None):
    """The runs of ``report`` (built with ``first_dead_steps=True``) ranked, as a JSON-ready dict.

    Fields: ``schema_version``, ``logdir``, ``tau``, ``sort``, ``top`` (int or
    null), ``runs_pattern`` (text or null), ``ranked_runs`` (runs before
    ``top``), ``runs`` (the rows of ``ranking.run_rows``, ranked), and from the
    report ``failing_layers``, ``skipped_records``, ``damaged_files``, ``totals``.
    """
    rows = ranking.run_rows(report["layers"])
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "logdir": report["logdir"],
        "tau": report["tau"],
        "sort": sort,
        "top": top,
        "runs_pattern": report.get("runs_pattern"),
        "ranked_runs": len(rows),
        "runs": ranking.sort_rows(rows, sort, top),
        "failing_layers": report["failing_layers"],
        "skipped_records": report["skipped_records"],
        "damaged_files": report["damaged_files"],
        "totals": report["totals"],
    }


def format_failures(report):
    """Lines for stderr naming the layers above ``fail_above`` (empty when none)."""
    failing = report["failing_layers"]
    if not failing:
        return []
    lines = [
        "deadrelu report: %s %s more than %.4g%% of their units dead at the latest step (--fail-above %g):"
        % (
            _plural(len(failing), "layer"),
            "has" if len(failing) == 1 else "have",
            100 * report["fail_above"],
            report["fail_above"],
        )
    ]
    lines += [
        "  run %s, layer %s: %.1f%% dead" % (layer["run"], layer["layer"], 100 * layer["dead_now_share"])
        for layer in failing
    ]
    return lines

