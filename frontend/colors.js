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
const STOP_AT = Float64Array.from(SCALE_STOPS, ([p]) => p);
const STOP_RGB = Float64Array.from(SCALE_STOPS.flatMap(([, c]) => c));

/** A unit dead in that record (zero on every input), or dormant under the τ metric. */
export const DEAD_RGB = Object.freeze([230, 81, 0]);
/** Zero fraction at or above the "nearly dead" threshold but not dead. */
export const NEARLY_DEAD_RGB = Object.freeze([255, 183, 77]);
/** Nothing was observed for the unit at that step. */
export const NO_DATA_RGB = Object.freeze([224, 224, 224]);

/**
 * Marker of a unit recycled (reset by ReDo) at that step: a bluish green (Okabe-Ito)
 * that is neither on the blue scale nor near the orange / amber of dead units.
 */
export const RECYCLED_RGB = Object.freeze([0, 158, 115]);

/** Whole-network view: a layer with no unit dead (or dormant) at that step. */
export const NONE_GONE_RGB = Object.freeze([247, 251, 255]);
/**
 * Whole-network view: colour stops [share, [r, g, b]] of a layer with that share
 * of its units dead (or dormant), from a share just above 0 to every unit
 * (ColorBrewer "YlOrBr": distinct from the heatmaps' blues, and a few percent
 * already reads differently from a third).
 */
export const SHARE_STOPS = Object.freeze([
  [0, [255, 237, 160]],
  [0.5, [254, 153, 41]],
  [1, [153, 52, 4]],
]);
const SHARE_AT = Float64Array.from(SHARE_STOPS, ([p]) => p);
const SHARE_RGB = Float64Array.from(SHARE_STOPS.flatMap(([, c]) => c));

/**
 * Writes the whole-network view's colour of a layer where `share` (in [0, 1])
 * of the units are dead (or dormant) into out[at..at+2]: NONE_GONE_RGB for 0,
 * else interpolated between SHARE_STOPS and rounded like scaleInto. A single
 * dead unit of thousands must not look like none, hence the jump at 0.
 */
export function shareInto(share, out, at) {
  if (!(share > 0)) {
    out[at] = NONE_GONE_RGB[0];
    out[at + 1] = NONE_GONE_RGB[1];
    out[at + 2] = NONE_GONE_RGB[2];
    return;
  }
  interpolateInto(SHARE_AT, SHARE_RGB, share < 1 ? share : 1, out, at);
}

/** Writes the colour at x in [0, 1] of stops (positions `at`, flat rgb `rgb`) into out[j..j+2], rounded. */
function interpolateInto(at, rgb, x, out, j) {
  let i = 1;
  while (i < at.length - 1 && x > at[i]) i++;
  const f = (x - at[i - 1]) / (at[i] - at[i - 1]);
  const a = 3 * (i - 1);
  const b = 3 * i;
  out[j] = Math.round(rgb[a] + f * (rgb[b] - rgb[a]));
  out[j + 1] = Math.round(rgb[a + 1] + f * (rgb[b + 1] - rgb[a + 1]));
  out[j + 2] = Math.round(rgb[a + 2] + f * (rgb[b + 2] - rgb[a + 2]));
}

/**
 * Writes [r, g, b] of the sequential scale at t (clamped to [0, 1]) into
 * out[at..at+2], interpolated linearly between the neighbouring stops and
 * rounded (Math.round, not the round-half-even of a Uint8ClampedArray store).
 * Allocation-free because the heatmap calls it for every pixel.
 */
export function scaleInto(t, out, at) {
  interpolateInto(STOP_AT, STOP_RGB, t > 0 ? (t < 1 ? t : 1) : 0, out, at); // also maps NaN to 0
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
