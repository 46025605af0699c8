/**
 * Pure functions for a layer's gradient view: lining up its gradient series
 * (tag "<layer>/gradients", kind "gradients") with the activation heatmap, and
 * the two colourings of a gradient cell. No DOM here.
 *
 * A gradient series has the activation series' layout (see stats.js), summed
 * over the values of d(loss)/d(pre-activation) of each unit on the probe inputs:
 * zeros / count is the share of probe inputs where the unit's gradient was
 * exactly 0, absSum / (count - nonfinite) its mean |gradient|.
 */

import { compareNames } from "./ordering.js";
import { GONE, deadZeros } from "./stats.js";

/** Suffix of a gradient series' tag (metadata.GRADIENTS_TAG_SUFFIX). */
export const GRADIENTS_TAG_SUFFIX = "/gradients";
/** Record kind of a gradient series (metadata.KIND_GRADIENTS). */
export const KIND_GRADIENTS = "gradients";
/** Record kind of a layer's recycled units, tag "<layer>/recycled" (metadata.KIND_RECYCLED); the overview lists them per layer. */
export const KIND_RECYCLED = "recycled";

/** The two colourings of the gradient heatmap. */
export const GRAD_ZEROS = "zeros";
export const GRAD_MAGNITUDE = "magnitude";

/**
 * The layers of one run's `tags` entry that get a panel, in the given order
 * (model order, see model.layersInModelOrder): [{tag, gradientTag}] where
 * gradientTag is the tag of the layer's gradient series or null. Gradient series
 * are shown inside their layer's panel, never as a layer of their own; nor are
 * recycled series.
 */
export function panelLayers(tagsOfRun, orderedTags) {
  return orderedTags
    .filter((tag) => tagsOfRun[tag].kind !== KIND_GRADIENTS && tagsOfRun[tag].kind !== KIND_RECYCLED)
    .map((tag) => {
      const gradientTag = tag + GRADIENTS_TAG_SUFFIX;
      return { tag, gradientTag: tagsOfRun[gradientTag]?.kind === KIND_GRADIENTS ? gradientTag : null };
    });
}

/** Gradient series of a run whose layer has no activation series (so no panel shows them), in the one order of names. */
export function orphanGradientTags(tagsOfRun) {
  return Object.keys(tagsOfRun)
    .filter((tag) => tagsOfRun[tag].kind === KIND_GRADIENTS)
    .filter((tag) => {
      const layer = tag.endsWith(GRADIENTS_TAG_SUFFIX) ? tag.slice(0, -GRADIENTS_TAG_SUFFIX.length) : null;
      return layer == null || !tagsOfRun[layer] || tagsOfRun[layer].kind === KIND_GRADIENTS;
    })
    .sort(compareNames);
}

/**
 * Int32Array [steps.length]: for each activation step, the index of the
 * gradient record of the same step, or -1 when there is none. Both lists are
 * ascending, so one merge pass does it.
 */
export function alignSteps(steps, gradientSteps) {
  const out = new Int32Array(steps.length).fill(-1);
  let j = 0;
  for (let i = 0; i < steps.length; i++) {
    while (j < gradientSteps.length && gradientSteps[j] < steps[i]) j++;
    if (j < gradientSteps.length && gradientSteps[j] === steps[i]) out[i] = j;
  }
  return out;
}

/**
 * Float64Array [S * U]: mean |gradient| over each unit's finite values, NaN where
 * a unit saw no finite value (like analysis.mean_abs).
 */
export function meanAbs(series) {
  const { units, count, absSum, nonfinite } = series;
  const out = new Float64Array(count.length * units);
  for (let s = 0; s < count.length; s++) {
    for (let i = s * units; i < (s + 1) * units; i++) {
      const finite = count[s] - (nonfinite ? nonfinite[i] : 0);
      out[i] = finite > 0 ? absSum[i] / finite : NaN;
    }
  }
  return out;
}

/**
 * {lo, hi}: the smallest and largest positive mean |gradient| of the layer over
 * all steps (the ends of its log colour scale), or null when there is none.
 */
export function logRange(means) {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < means.length; i++) {
    const m = means[i];
    if (m > 0 && m < Infinity) {
      if (m < lo) lo = m;
      if (m > hi) hi = m;
    }
  }
  return lo <= hi ? { lo, hi } : null;
}

/**
 * Position on the colour scale of a mean |gradient| `m` > 0 in a layer whose
 * range is {lo, hi}: the layer's largest gradient is 0 (palest), its smallest
 * 1 (darkest), log-linear in between; a layer with one value sits mid-scale.
 */
export function magnitudeSeverity(m, { lo, hi }) {
  if (hi === lo) return 0.5;
  return 1 - (Math.log(m) - Math.log(lo)) / (Math.log(hi) - Math.log(lo));
}

/** The value at scale position t of a {lo, hi} log scale (the legend's labels). */
export function magnitudeAt(t, { lo, hi }) {
  return Math.exp(Math.log(hi) - t * (Math.log(hi) - Math.log(lo)));
}

/**
 * Float32Array [S * U] (S activation steps): per-cell value for colouring the
 * gradient heatmap with stats.aggregate and heatmap.paint, aligned to the
 * activation steps by `align` (see alignSteps):
 *   GONE   the gradient was exactly 0 on every probe input (both modes);
 *   zeros      mode: the share of probe inputs with gradient exactly 0;
 *   magnitude  mode: magnitudeSeverity of the mean |gradient| (needs `means`, `range`);
 *   NaN    no gradient record for that step, nothing observed, or no finite value.
 */
export function gradientSeverity(series, align, mode, means = null, range = null) {
  const U = series.units;
  const S = align.length;
  const out = new Float32Array(S * U);
  const { count, zeros } = series;
  for (let s = 0; s < S; s++) {
    const g = align[s];
    const c = g >= 0 ? count[g] : 0;
    if (c <= 0) {
      out.fill(NaN, s * U, (s + 1) * U);
      continue;
    }
    const from = g * U - s * U;
    const dead = deadZeros(c);
    for (let i = s * U; i < (s + 1) * U; i++) {
      const z = zeros[i + from];
      if (z === dead) out[i] = GONE;
      else if (mode === GRAD_MAGNITUDE) {
        const m = means[i + from];
        out[i] = m > 0 && range ? magnitudeSeverity(m, range) : m === 0 ? GONE : NaN;
      } else out[i] = z / c;
    }
  }
  return out;
}
