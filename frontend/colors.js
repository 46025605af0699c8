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

// The stops as flat arrays: scaleInto runs once per pixel.
const STOP_COUNT = SCALE_STOPS.length;
const STOP_AT = Float64Array.from(SCALE_STOPS, ([p]) => p);
const STOP_RGB = Float64Array.from(SCALE_STOPS.flatMap(([, c]) => c));

/** A unit dead in that record (zero on every input), or dormant under the τ metric. */
export const DEAD_RGB = Object.freeze([230, 81, 0]);
/** Zero fraction at or above the "nearly dead" threshold but not dead. */
export const NEARLY_DEAD_RGB = Object.freeze([255, 183, 77]);
/** Nothing was observed for the unit at that step. */
export const NO_DATA_RGB = Object.freeze([224, 224, 224]);

/**
 * Writes [r, g, b] of the sequential scale at t (clamped to [0, 1]) into
 * out[at..at+2], interpolated linearly between the neighbouring stops and
 * rounded (Math.round, not the round-half-even of a Uint8ClampedArray store).
 * Allocation-free because the heatmap calls it for every pixel.
 */
export function scaleInto(t, out, at) {
  const x = t > 0 ? (t < 1 ? t : 1) : 0; // also maps NaN to 0
  let i = 1;
  while (i < STOP_COUNT - 1 && x > STOP_AT[i]) i++;
  const f = (x - STOP_AT[i - 1]) / (STOP_AT[i] - STOP_AT[i - 1]);
  const a = 3 * (i - 1);
  const b = 3 * i;
  out[at] = Math.round(STOP_RGB[a] + f * (STOP_RGB[b] - STOP_RGB[a]));
  out[at + 1] = Math.round(STOP_RGB[a + 1] + f * (STOP_RGB[b + 1] - STOP_RGB[a + 1]));
  out[at + 2] = Math.round(STOP_RGB[a + 2] + f * (STOP_RGB[b + 2] - STOP_RGB[a + 2]));
}

/** Returns [r, g, b] of the sequential scale at t (see scaleInto). */
export function scaleRgb(t) {
  const out = [0, 0, 0];
  scaleInto(t, out, 0);
  return out;
}

/** CSS `rgb(...)` text of an [r, g, b] triple. */
export function cssRgb(rgb) {
  return `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
}
