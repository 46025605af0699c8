"""Confidence intervals for the shares the seed sweep counts."""

import math

# The normal quantile of a two-sided 95% interval.
Z_95 = 1.959963984540054


def wilson_interval(successes, trials, z=Z_95):
    """The Wilson score interval of a binomial proportion, as ``(low, high)``.

    For ``k`` successes in ``n`` trials, ``p = k / n``:
    ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``. Unlike the
    normal ("Wald") interval it stays inside [0, 1] and is not empty at
    ``k = 0`` or ``k = n``, which is where a small seed sweep often lands.

    Raises:
      ValueError: naming ``trials`` or ``successes`` when they are not
        integers with ``0 <= successes <= trials`` and ``trials >= 1``.
    """
    for name, value in (("trials", trials), ("successes", successes)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("%s must be an int, got %r" % (name, value))
    if trials < 1:
        raise ValueError("trials must be at least 1, got %r" % (trials,))
    if not 0 <= successes <= trials:
        raise ValueError("successes must be in [0, trials=%d], got %r" % (trials, successes))
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    # At k = 0 (k = n) the lower (upper) bound is exactly 0 (1); computed, it is off by rounding.
    low = 0.0 if successes == 0 else centre - half
    high = 1.0 if successes == trials else centre + half
    return low, high
