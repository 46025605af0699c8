/**
 * The colours of the tab: one sequential scale for "how close to dead" and a few
 * fixed colours for categories (dead, nearly dead, no data).
 *
 * The scale runs from pale (healthy: the unit rarely outputs zero, or is about as
 * active as the layer's average) to dark blue (silent), so that the fixed orange of
 * dead units stands out against every value of the scale.
 */

/** Colour stops [position, [r, g, b]] of the sequential scale (ColorBrewer "Blues"). */
export const SCALE_STOPS = Object.freeze([
  [0, [247, 251, 255]],
  [0.5, [107, 174, 214]],
  [1, [8, 48, 107]],
]);

/** A unit dead in that record (zero on every input), or dormant under the τ metric. */
export const DEAD_RGB = Object.freeze([230, 81, 0]);
/** Zero fraction at or above the "nearly dead" threshold but not dead. */
export const NEARLY_DEAD_RGB = Object.freeze([255, 183, 77]);
/** Nothing was observed for the unit at that step. */
export const NO_DATA_RGB = Object.freeze([224, 224, 224]);

/**
 * Returns [r, g, b] of the sequential scale at t (clamped to [0, 1]),
 * interpolated linearly between the neighbouring stops and rounded.
 */
export function scaleRgb(t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  for (let i = 1; i < SCALE_STOPS.length; i++) {
    const [p1, c1] = SCALE_STOPS[i];
    if (x <= p1) {
      const [p0, c0] = SCALE_STOPS[i - 1];
      const f = (x - p0) / (p1 - p0);
      return [0, 1, 2].map((k) => Math.round(c0[k] + f * (c1[k] - c0[k])));
    }
  }
  return SCALE_STOPS[SCALE_STOPS.length - 1][1].slice();
}

/** The largest dormant score the scale distinguishes; higher scores get its palest colour. */
export const DORMANT_SCORE_CAP = 2;

/**
 * Position on the scale of a τ-dormant score: 0 (silent) is darkest, the layer's
 * average (1) is mid-scale, twice the average or more is palest.
 */
export function dormantScalePosition(score) {
  return 1 - Math.min(score, DORMANT_SCORE_CAP) / DORMANT_SCORE_CAP;
}

/** CSS `rgb(...)` text of an [r, g, b] triple. */
export function cssRgb(rgb) {
  return `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
}
