/**
 * Pure functions that turn one layer's records into what the tab shows: zero
 * fractions, dead and τ-dormant units, death steps, counts per step, the order of
 * units, and the aggregation of a large layer into a canvas-sized grid.
 *
 * A *series* is one layer of one run, as decoded by model.js:
 *   { units: U, steps: [S] ints ascending, count: [S] numbers,
 *     zeros: typed array [S * U] (step-major), absSum / nonfinite: same or null }.
 * Per-cell arrays are step-major: cell (step index s, unit u) is at s * U + u.
 *
 * This module is the JavaScript home of the rules (dead, nearly dead, death
 * step, revived, still dead, τ-dormant) and of their defaults; Python's is
 * tensorboard_plugin_deadrelu/analysis.py. Both are checked against the same
 * golden vectors (tests/golden/analysis_vectors.json).
 */

/** Default "nearly dead" threshold on the zero fraction (analysis.DEFAULT_NEARLY_DEAD_THRESHOLD). */
export const DEFAULT_THRESHOLD = 0.99;
/** Default τ of the τ-dormant score (Sokar et al. use 0, 0.025 and 0.1). */
export const DEFAULT_TAU = 0.025;

/** Dead in a record: the unit output exactly 0 on every value observed, and something was observed. */
export function isDead(zeros, count) {
  return zeros === deadZeros(count);
}

/**
 * The zeros that make a unit dead in a record of `count` values per unit: all
 * of them; NaN (equal to nothing) when nothing was observed. Loops over
 * millions of cells take it once per step and compare.
 */
export function deadZeros(count) {
  return count > 0 ? count : NaN;
}

/** The share of observed values that were exactly 0; NaN when nothing was observed. */
export function zeroFraction(zeros, count) {
  return count > 0 ? zeros / count : NaN;
}

/** Nearly dead: a zero fraction of at least `threshold` (dead units included). */
export function isNearlyDead(zeros, count, threshold) {
  return count > 0 && zeros >= nearlyDeadLimit(count, threshold);
}

/** The zeros (of `count` > 0 values) from which a unit is nearly dead at `threshold`; loops hoist it per step. */
export function nearlyDeadLimit(count, threshold) {
  return threshold * count;
}

/** τ-dormant: a dormant score (see dormantScores) of at most τ; a NaN score (no finite value) is not. */
export function isDormant(score, tau) {
  return score <= tau;
}

/**
 * Int32Array [S]: units per step that are dead (isDead; a gradient series:
 * units whose gradient was exactly 0 on every probe input).
 */
export function deadCounts(series) {
  const { units, count, zeros } = series;
  const out = new Int32Array(count.length);
  for (let s = 0; s < count.length; s++) {
    let n = 0;
    const dead = deadZeros(count[s]);
    for (let i = s * units; i < (s + 1) * units; i++) if (zeros[i] === dead) n++;
    out[s] = n;
  }
  return out;
}

/** The two colourings of the heatmap. */
export const METRIC_ZEROS = "zeros";
export const METRIC_DORMANT = "dormant";

/** Value given to cells that are dead (or dormant), above every fraction/scale position. */
export const GONE = 2;

/** The largest dormant score the colour scale distinguishes; higher scores share its palest end. */
export const DORMANT_SCORE_CAP = 2;

/**
 * Position on the colour scale of a τ-dormant score: 0 (silent) is 1, like a
 * unit that always outputs zero; the layer's average (1) is mid-scale; twice the
 * average or more is 0.
 */
export function dormantSeverity(score) {
  return 1 - (score < DORMANT_SCORE_CAP ? score : DORMANT_SCORE_CAP) / DORMANT_SCORE_CAP;
}

/**
 * Float64Array [S * U]: the τ-dormant score of Sokar et al. (2023), mean|a_u|
 * divided by the mean over the layer's units of mean|a|. mean|a| is taken over
 * finite values (abs_sum / (count - nonfinite)); a unit with no finite value
 * scores NaN; when the whole layer is silent every observed unit scores 0.
 * (float64 like analysis.py, so that "score <= τ" agrees with the report command.)
 */
export function dormantScores(series) {
  const { units, count, absSum } = series;
  if (!absSum) throw new Error("dormant scores need abs_sum, which is not loaded yet");
  const nonfinite = series.nonfinite;
  const out = new Float64Array(count.length * units);
  for (let s = 0; s < count.length; s++) {
    const base = s * units;
    let sum = 0;
    let seen = 0;
    for (let i = base; i < base + units; i++) {
      const finite = count[s] - (nonfinite ? nonfinite[i] : 0);
      const mean = finite > 0 ? absSum[i] / finite : NaN;
      out[i] = mean;
      if (finite > 0) {
        sum += mean;
        seen += 1;
      }
    }
    const layerMean = seen > 0 ? sum / seen : 0;
    for (let i = base; i < base + units; i++) {
      if (out[i] === out[i]) out[i] = layerMean > 0 ? out[i] / layerMean : 0;
    }
  }
  return out;
}

/**
 * Int32Array [U]: per unit, the index of the first step from which the mask is set
 * at every later step, or -1 when it is not set at the last step.
 */
export function deathStepIndices(mask, steps, units) {
  const out = new Int32Array(units).fill(-1);
  if (steps === 0) return out;
  for (let u = 0; u < units; u++) {
    let s = steps - 1;
    while (s >= 0 && mask[s * units + u]) s--;
    if (s < steps - 1) out[u] = s + 1;
  }
  return out;
}

/**
 * ReDo-style persistence of a [S * U] mask:
 *   still   Int32Array [S], units set at that step *and* at the latest step;
 *   revived Uint8Array [U], set at some earlier step but not at the latest.
 */
export function persistence(mask, steps, units) {
  const still = new Int32Array(steps);
  const revived = new Uint8Array(units);
  if (steps === 0) return { still, revived };
  const last = (steps - 1) * units;
  for (let s = 0; s < steps; s++) {
    let n = 0;
    const base = s * units;
    for (let u = 0; u < units; u++) {
      const set = mask[base + u];
      if (mask[last + u]) n += set;
      else if (set) revived[u] = 1;
    }
    still[s] = n;
  }
  return { still, revived };
}

/** Unit orders offered by the "sort units" control. */
export const SORT_INDEX = "index";
export const SORT_DEATH = "death";
export const SORT_LATEST = "latest";

/**
 * Int32Array [U]: the units in display order (top row first).
 *   index  - by unit index;
 *   death  - units that died earliest first, then later deaths, then the living,
 *            ties by index;
 *   latest - by their severity at the latest step, highest (dead, then most
 *            zeros) first, NaN last, ties by index.
 */
export function unitOrder(sort, { units, steps, deathIdx, severity }) {
  const order = Int32Array.from({ length: units }, (_, u) => u);
  if (sort === SORT_DEATH) {
    const key = (u) => (deathIdx[u] < 0 ? Infinity : deathIdx[u]);
    return order.sort((a, b) => key(a) - key(b) || a - b);
  }
  if (sort === SORT_LATEST && steps > 0) {
    const base = (steps - 1) * units;
    const key = (u) => {
      const v = severity[base + u];
      return Number.isNaN(v) ? -Infinity : v;
    };
    return order.sort((a, b) => key(b) - key(a) || a - b);
  }
  return order;
}

/**
 * Splits `n` items into `bins` contiguous bins as evenly as possible;
 * returns Int32Array [n] with the bin of every item.
 */
export function binOf(n, bins) {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor((i * bins) / n);
  return out;
}

/** Item range [start, end) of bin `b` when `n` items are split into `bins` by binOf. */
export function binRange(n, bins, b) {
  return [Math.ceil((b * n) / bins), Math.ceil(((b + 1) * n) / bins)];
}

/**
 * Aggregates a [S * U] severity grid into rows x cols cells, each the maximum
 * (the worst unit/step) over its bin, for the displayed unit positions
 * [unitStart, unitEnd) of `order` and steps [stepStart, stepEnd).
 * Returns Float32Array [rows * cols], row-major, NaN for bins without data.
 */
export function aggregate(sev, units, order, view, rows, cols) {
  const { unitStart, unitEnd, stepStart, stepEnd } = view;
  const nUnits = unitEnd - unitStart;
  const nSteps = stepEnd - stepStart;
  const out = new Float32Array(rows * cols).fill(-Infinity);
  const rowOf = binOf(nUnits, rows);
  const colOf = binOf(nSteps, cols);
  for (let s = stepStart; s < stepEnd; s++) {
    const c = colOf[s - stepStart];
    const base = s * units;
    for (let p = unitStart; p < unitEnd; p++) {
      const v = sev[base + order[p]];
      const i = rowOf[p - unitStart] * cols + c;
      if (v > out[i]) out[i] = v;
    }
  }
  for (let i = 0; i < out.length; i++) if (out[i] === -Infinity) out[i] = NaN;
  return out;
}

/**
 * The cell behind an aggregated bin: {unit, stepIndex} of the worst cell (the one
 * whose severity the bin shows), or the first cell of the bin when all are NaN.
 */
export function worstCell(sev, units, order, view, rows, cols, row, col) {
  const [p0, p1] = binRange(view.unitEnd - view.unitStart, rows, row);
  const [s0, s1] = binRange(view.stepEnd - view.stepStart, cols, col);
  let best = { unit: order[view.unitStart + p0], stepIndex: view.stepStart + s0 };
  let bestValue = -Infinity;
  for (let s = view.stepStart + s0; s < view.stepStart + s1; s++) {
    for (let p = view.unitStart + p0; p < view.unitStart + p1; p++) {
      const v = sev[s * units + order[p]];
      if (v > bestValue) {
        bestValue = v;
        best = { unit: order[p], stepIndex: s };
      }
    }
  }
  return best;
}

/**
 * Everything one layer's panel shows for the chosen metric, computed from a series
 * in as few passes over the S x U cells as possible (a large layer has millions):
 *   severity  per-cell value for colouring and aggregation: GONE for a dead
 *             (zeros metric) or dormant (score <= tau) cell, otherwise its
 *             position on the colour scale (the zero fraction, or
 *             dormantSeverity(score)), NaN when nothing was observed;
 *   gone      per-cell mask of dead / dormant cells;
 *   scores    per-cell dormant scores (dormant metric only, else null);
 *   deathIdx  per-unit index of the step since which it is gone for good, or -1;
 *   revived   per-unit: gone at an earlier step but not at the latest;
 *   counts    per-step {gone, nearlyDead (zeros metric only, else null), stillGone}.
 * `previous` is an earlier result for the same series whose arrays may be reused
 * (and are then overwritten).
 */
export function analyze(series, { metric, tau, threshold }, previous = null) {
  const S = series.steps.length;
  const U = series.units;
  // Reusing the previous analysis' big arrays (tens of MB for a large layer)
  // spares the garbage collector on every change of a control.
  const reuse = previous && previous.severity.length === S * U;
  const out = {
    severity: reuse ? previous.severity : new Float32Array(S * U),
    gone: reuse ? previous.gone : new Uint8Array(S * U),
    goneCount: new Int32Array(S),
    nearlyDead: null,
    scores: null,
  };
  if (metric === METRIC_DORMANT) {
    // Scores do not depend on τ: compute them once per series, threshold on every change.
    if (!series.dormantScores) series.dormantScores = dormantScores(series);
    out.scores = series.dormantScores;
    classifyDormant(out, S, U, tau);
  } else {
    out.nearlyDead = new Int32Array(S);
    classifyZeros(out, S, U, series.count, series.zeros, threshold);
  }
  const { still, revived } = persistence(out.gone, S, U);
  return {
    severity: out.severity,
    gone: out.gone,
    scores: out.scores,
    deathIdx: deathStepIndices(out.gone, S, U),
    revived,
    counts: { gone: out.goneCount, nearlyDead: out.nearlyDead, stillGone: still },
  };
}

// The two per-cell loops of analyze, one function each so that the JIT
// optimises each for its own array types.

function classifyZeros({ severity, gone, goneCount, nearlyDead }, S, U, count, zeros, threshold) {
  for (let s = 0; s < S; s++) {
    const c = count[s];
    if (c <= 0) {
      severity.fill(NaN, s * U, (s + 1) * U);
      gone.fill(0, s * U, (s + 1) * U);
      goneCount[s] = 0;
      nearlyDead[s] = 0;
      continue;
    }
    let n = 0;
    let near = 0;
    // Per step, not per cell (millions of cells): the dead and nearly-dead
    // limits, and the reciprocal of the count (zeroFraction's z / c; the same
    // float32 severity).
    const dead = deadZeros(c);
    const limit = nearlyDeadLimit(c, threshold);
    const inv = 1 / c;
    for (let i = s * U; i < (s + 1) * U; i++) {
      const z = zeros[i];
      if (z === dead) {
        gone[i] = 1;
        severity[i] = GONE;
        n++;
        near++; // dead is nearly dead at every threshold in (0, 1]
      } else {
        gone[i] = 0;
        severity[i] = z * inv;
        if (z >= limit) near++;
      }
    }
    goneCount[s] = n;
    nearlyDead[s] = near;
  }
}

function classifyDormant({ severity, gone, goneCount, scores }, S, U, tau) {
  for (let s = 0; s < S; s++) {
    let n = 0;
    for (let i = s * U; i < (s + 1) * U; i++) {
      const v = scores[i];
      if (isDormant(v, tau)) {
        gone[i] = 1;
        severity[i] = GONE;
        n++;
      } else {
        gone[i] = 0;
        severity[i] = v === v ? dormantSeverity(v) : NaN;
      }
    }
    goneCount[s] = n;
  }
}
