"""A/B timing on a noisy machine: run variants interleaved, keep the fastest.

Other processes share the CPU, so one long run of A followed by one of B mostly
measures what the neighbours did meanwhile. :func:`compare` runs the variants in
turns (A B A B ...) for several rounds in one process and keeps each variant's
minimum time, the run least disturbed by the machine; :func:`print_ratios`
prints each variant against the baseline with both times, so a reader can judge
the figure rather than trust a bare ratio.

Example::

    from benchmarks import ab          # or `import ab` from inside benchmarks/

    times = ab.compare({"plain": run_plain, "recorded": run_recorded}, rounds=5)
    ab.print_ratios(times, baseline="plain", targets={"recorded": 1.03})
"""

import time


def compare(variants, *, rounds=5, warmup=1, reverse_alternate_rounds=True, clock=time.perf_counter):
    """Times each variant in interleaved rounds and returns the fastest run of each.

    Args:
      variants: Ordered mapping ``{name: callable}``; each callable runs one
        complete measured workload and takes no arguments.
      rounds: Measured rounds; every variant runs once per round.
      warmup: Unmeasured rounds first (tracing, caches, allocator warm-up).
      reverse_alternate_rounds: Run the variants in reverse order every second
        round, so no variant always runs right after the same neighbour.
      clock: Seconds source; ``time.process_time`` measures the CPU time of
        this process (all threads), which other processes' load disturbs less
        than wall time.

    Returns:
      ``{name: {"min": seconds, "all": [seconds per round]}}`` in the order of
      ``variants``.
    """
    if rounds < 1:
        raise ValueError("rounds must be >= 1, got %r" % (rounds,))
    names = list(variants)
    if not names:
        raise ValueError("variants must name at least one callable")
    for name in names:
        if not callable(variants[name]):
            raise ValueError("variants[%r] must be callable" % (name,))
    for _ in range(warmup):
        for name in names:
            variants[name]()
    all_times = {name: [] for name in names}
    for round_index in range(rounds):
        order = names[::-1] if (reverse_alternate_rounds and round_index % 2) else names
        for name in order:
            start = clock()
            variants[name]()
            all_times[name].append(clock() - start)
    return {name: {"min": min(t), "all": t} for name, t in all_times.items()}


def paired_ratios(times, baseline):
    """``{name: median over rounds of time(name) / time(baseline) in the same round}``.

    Each round's variants run back to back, so a slow spell of the machine
    tends to hit both sides of a pair; the median of the per-round ratios is a
    second estimate, robust to bursts that the min-based ratio can miss.
    """
    if baseline not in times:
        raise ValueError("baseline %r is not one of %r" % (baseline, list(times)))
    base = times[baseline]["all"]
    result = {}
    for name, t in times.items():
        if name != baseline:
            per_round = sorted(v / b for v, b in zip(t["all"], base))
            middle = len(per_round) // 2
            result[name] = per_round[middle] if len(per_round) % 2 else (per_round[middle - 1] + per_round[middle]) / 2
    return result


def ratios(times, baseline):
    """``{name: min(name) / min(baseline)}`` for every variant but the baseline."""
    if baseline not in times:
        raise ValueError("baseline %r is not one of %r" % (baseline, list(times)))
    base = times[baseline]["min"]
    return {name: t["min"] / base for name, t in times.items() if name != baseline}


def print_ratios(times, baseline, targets=None, file=None):
    """Prints every variant's min time, the baseline's, their ratio and the target.

    The paired-round median (:func:`paired_ratios`) is printed alongside.

    Args:
      times: The result of :func:`compare`.
      baseline: Name of the variant the others are divided by.
      targets: Optional ``{name: max_ratio}``; each line then says whether the
        ratio meets it.
      file: Where to print (default stdout).

    Returns:
      ``{name: ratio}`` as :func:`ratios`.
    """
    targets = targets or {}
    result = ratios(times, baseline)
    paired = paired_ratios(times, baseline)
    base = times[baseline]["min"]
    for name, ratio in result.items():
        line = "%-28s %9.4f s / %s %9.4f s = %.4f (median of paired rounds %.4f)" % (
            name, times[name]["min"], baseline, base, ratio, paired[name])
        if name in targets:
            line += "  (target <= %.2f: %s)" % (targets[name], "met" if ratio <= targets[name] else "MISSED")
        print(line, file=file)
    for name, t in times.items():
        print("  %-26s all rounds: %s" % (name, " ".join("%.4f" % s for s in t["all"])), file=file)
    return result
