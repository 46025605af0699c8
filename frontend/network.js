/**
 * The whole-network view's data, as pure functions: one run's `overview` answer
 * (layers in model order, per step the number of dead and τ-dormant units) turned
 * into a grid of layers (rows) x steps (columns) holding the share of each
 * layer's units that are gone, on a step axis shared by every run shown.
 * No DOM here (networkview.js draws it).
 */

import { NO_DATA_RGB, shareInto } from "./colors.js";
import { METRIC_DORMANT, binOf, binRange } from "./stats.js";

/**
 * The steps every whole-network grid is drawn on: the sorted union of the steps
 * of every layer of every run in `overviews`, so that runs shown side by side
 * share their columns.
 */
export function sharedSteps(overviews) {
  const all = new Set();
  for (const overview of overviews) for (const layer of overview.layers) for (const step of layer.steps) all.add(step);
  return Float64Array.from(all).sort();
}

/**
 * The per-step counts of gone units of one overview layer under `metric`:
 * `dead`, or `dormant` for the τ-dormant view; null when the answer does not
 * have them (a server without the dormant counts).
 */
export function goneCounts(layer, metric) {
  const counts = metric === METRIC_DORMANT ? layer.dormant : layer.dead;
  return Array.isArray(counts) && counts.length === layer.steps.length ? counts : null;
}

/**
 * Float64Array [layers.length * cols], row-major: for each layer (row) and each
 * column of the shared step axis `steps` (split into `cols` contiguous bins of
 * steps), the largest share of the layer's units gone (dead / dormant) at a step
 * of that bin; NaN where the layer has no record with something observed there.
 */
export function shareGrid(layers, steps, cols, metric) {
  const rows = layers.length;
  const out = new Float64Array(rows * cols).fill(NaN);
  const colOf = binOf(steps.length, cols);
  const indexOf = new Map(Array.from(steps, (step, i) => [step, i]));
  layers.forEach((layer, row) => {
    const gone = goneCounts(layer, metric);
    if (!gone || !(layer.units > 0)) return;
    for (let s = 0; s < layer.steps.length; s++) {
      if (!(layer.count[s] > 0)) continue;
      const i = row * cols + colOf[indexOf.get(layer.steps[s])];
      const share = gone[s] / layer.units;
      if (!(out[i] >= share)) out[i] = share; // NaN or smaller
    }
  });
  return out;
}

/**
 * The record behind grid cell (row, col): {stepIndex, step, gone, units} of the
 * layer's step in that column's bin with the largest share (the one the cell
 * shows), or null when the cell has no data.
 */
export function cellRecord(layer, steps, cols, col, metric) {
  const gone = goneCounts(layer, metric);
  if (!gone) return null;
  const [first, end] = binRange(steps.length, cols, col);
  const lo = steps[first];
  const hi = steps[end - 1];
  let best = null;
  for (let s = 0; s < layer.steps.length; s++) {
    const step = layer.steps[s];
    if (step < lo || step > hi || !(layer.count[s] > 0)) continue;
    if (!best || gone[s] > best.gone) best = { stepIndex: s, step, gone: gone[s], units: layer.units };
  }
  return best;
}

/** Colours a share grid (see shareGrid) into RGBA bytes: shareInto, or the no-data grey for NaN. */
export function paintShares(grid, out = new Uint8ClampedArray(grid.length * 4)) {
  for (let i = 0; i < grid.length; i++) {
    const j = i * 4;
    if (grid[i] === grid[i]) shareInto(grid[i], out, j);
    else {
      out[j] = NO_DATA_RGB[0];
      out[j + 1] = NO_DATA_RGB[1];
      out[j + 2] = NO_DATA_RGB[2];
    }
    out[j + 3] = 255;
  }
  return out;
}
