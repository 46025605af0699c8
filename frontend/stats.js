/**
 * Pure functions that turn one layer's records into what the tab shows: zero
 * fractions, dead and τ-dormant units, death steps, counts per step, the order of
 * units, and the aggregation of a large layer into a canvas-sized grid.
 *
 * A *series* is one layer of one run, as decoded by model.js:
 *   { units: U, steps: [S] ints ascending, count: [S] ints,
 *     zeros: typed array [S * U] (step-major), absSum / nonfinite: same or null }.
 * Per-cell arrays are step-major: cell (step index s, unit u) is at s * U + u.
 *
 * The definitions follow tensorboard_plugin_deadrelu/analysis.py (the backend's
 * overview and the `deadrelu report` command use the same ones).
 */

/** The two colourings of the heatmap. */
export const METRIC_ZEROS = "zeros";
export const METRIC_DORMANT = "dormant";

/** Value given to cells that are dead (or dormant), above every fraction/scale position. */
export const GONE = 2;

export const DEFAULT_THRESHOLD = 0.99;
export const DEFAULT_TAU = 0.025;

/** Float32Array [S * U]: zeros / count per cell; NaN where nothing was observed. */
export function zeroFractions(series) {
  const { units, count, zeros } = series;
  const out = new Float32Array(count.length * units);
  for (let s = 0; s < count.length; s++) {
    const c = count[s];
    const base = s * units;
    if (c > 0) {
      const inv = 1 / c;
      for (let u = 0; u < units; u++) out[base + u] = zeros[base + u] * inv;
    } else {
      out.fill(NaN, base, base + units);
    }
  }
  return out;
}

/** Uint8Array [S * U]: 1 where the unit output exactly zero on every observed value. */
export function deadMask(series) {
  const { units, count, zeros } = series;
  const out = new Uint8Array(count.length * units);
  for (let s = 0; s < count.length; s++) {
    const c = count[s];
    if (c <= 0) continue;
    const base = s * units;
    for (let u = 0; u < units; u++) out[base + u] = zeros[base + u] === c ? 1 : 0;
  }
  return out;
}

/** Uint8Array [S * U]: 1 where zeros >= threshold * count (and count > 0). */
export function nearlyDeadMask(series, threshold) {
  const { units, count, zeros } = series;
  const out = new Uint8Array(count.length * units);
  for (let s = 0; s < count.length; s++) {
    const c = count[s];
    if (c <= 0) continue;
    const limit = threshold * c;
    const base = s * units;
    for (let u = 0; u < units; u++) out[base + u] = zeros[base + u] >= limit ? 1 : 0;
  }
  return out;
}

/**
 * Float64Array [S * U]: the τ-dormant score of Sokar et al. (2023), mean|a_u|
 * divided by the mean over the layer's units of mean|a|. mean|a| is taken over
 * finite values (abs_sum / (count - nonfinite)); a unit with no finite value
 * scores NaN; when the whole layer is silent every observed unit scores 0.
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
    for (let u = 0; u < units; u++) {
      const finite = count[s] - (nonfinite ? nonfinite[base + u] : 0);
      if (finite > 0) {
        const mean = absSum[base + u] / finite;
        out[base + u] = mean;
        sum += mean;
        seen += 1;
      } else {
        out[base + u] = NaN;
      }
    }
    const layerMean = seen > 0 ? sum / seen : 0;
    for (let u = 0; u < units; u++) {
      const mean = out[base + u];
      if (Number.isNaN(mean)) continue;
      out[base + u] = layerMean > 0 ? mean / layerMean : 0;
    }
  }
  return out;
}

/** Uint8Array [S * U]: 1 where score <= tau (NaN scores are not dormant). */
export function dormantMask(scores, tau) {
  const out = new Uint8Array(scores.length);
  for (let i = 0; i < scores.length; i++) out[i] = scores[i] <= tau ? 1 : 0;
  return out;
}

/** Int32Array [S]: cells set in a [S * U] mask, per step. */
export function countPerStep(mask, steps, units) {
  const out = new Int32Array(steps);
  for (let s = 0; s < steps; s++) {
    let n = 0;
    const base = s * units;
    for (let u = 0; u < units; u++) n += mask[base + u];
    out[s] = n;
  }
  return out;
}

/**
 * Int32Array [S]: units set at that step *and* at the latest step (ReDo's
 * persistence: how many of the units dead then never came back).
 */
export function stillSetPerStep(mask, steps, units) {
  const out = new Int32Array(steps);
  if (steps === 0) return out;
  const last = (steps - 1) * units;
  for (let s = 0; s < steps; s++) {
    let n = 0;
    const base = s * units;
    for (let u = 0; u < units; u++) n += mask[base + u] & mask[last + u];
    out[s] = n;
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

/** Uint8Array [U]: set at some earlier step but not at the latest one. */
export function revivedUnits(mask, steps, units) {
  const out = new Uint8Array(units);
  if (steps < 2) return out;
  const last = (steps - 1) * units;
  for (let s = 0; s < steps - 1; s++) {
    const base = s * units;
    for (let u = 0; u < units; u++) {
      if (mask[base + u] && !mask[last + u]) out[u] = 1;
    }
  }
  return out;
}

/**
 * Float32Array [S * U]: how close to "gone" each cell is, on one axis for both
 * metrics, so that aggregation can take a plain maximum: GONE (2) for a dead
 * (zeros metric) or dormant (score <= tau) cell, otherwise a scale position in
 * [0, 1] (the zero fraction, or colors.dormantScalePosition of the score), NaN
 * when there is no data.
 */
export function severity(metric, values, goneMask, scalePosition) {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    if (goneMask[i]) out[i] = GONE;
    else {
      const v = values[i];
      out[i] = Number.isNaN(v) ? NaN : scalePosition ? scalePosition(v) : v;
    }
  }
  return out;
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
 * Everything one layer's panel shows for the chosen metric, computed from a series:
 *   values    per-cell zero fractions or dormant scores ([S * U]);
 *   gone      per-cell mask of dead (zeros) or dormant (score <= tau) cells;
 *   severity  per-cell value for colouring and aggregation (see `severity`);
 *   deathIdx  per-unit index of the step since which it is gone for good, or -1;
 *   revived   per-unit: gone at an earlier step but not at the latest;
 *   counts    per-step {gone, nearlyDead (zeros metric only, else null), stillGone}.
 * `scalePosition` maps a dormant score to its position on the colour scale.
 */
export function analyze(series, { metric, tau, threshold }, scalePosition) {
  const S = series.steps.length;
  const U = series.units;
  let values;
  let gone;
  let nearlyDead = null;
  if (metric === METRIC_DORMANT) {
    values = dormantScores(series);
    gone = dormantMask(values, tau);
  } else {
    values = zeroFractions(series);
    gone = deadMask(series);
    nearlyDead = countPerStep(nearlyDeadMask(series, threshold), S, U);
  }
  return {
    values,
    gone,
    severity: severity(metric, values, gone, metric === METRIC_DORMANT ? scalePosition : null),
    deathIdx: deathStepIndices(gone, S, U),
    revived: revivedUnits(gone, S, U),
    counts: { gone: countPerStep(gone, S, U), nearlyDead, stillGone: stillSetPerStep(gone, S, U) },
  };
}
