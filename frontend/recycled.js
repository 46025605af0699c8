/**
 * Units that a remedy (ReDo: torch `DeadReluMonitor.recycle`, Lightning
 * `recycle_tau=`) reset, as a layer's panel shows them: which heatmap cells get
 * a marker, how many units were recycled per step, and when a unit was last
 * recycled. Pure (no DOM). The input is the `overview` route's per-layer
 * `recycled` list, [[step, [unit, ...]], ...]: the units reset right after the
 * record of that step (the record kind "recycled", tag "<layer>/recycled").
 */

/**
 * The recycling events of one layer placed on its series' steps.
 * A recycling at step S belongs to the column of step S; if TensorBoard kept
 * only a sample of the steps and S is not among them, to the first kept step
 * after S (the first record that shows the reset unit), or to none if S is past
 * the last kept step (it still counts in `resets` and `units`).
 * Units outside [0, units) are left out. Returns
 *   events   [{unit, index, step}] by step index then unit (index -1: no column);
 *   perStep  Int32Array [steps.length]: units recycled at each step index;
 *   byUnit   Map unit -> [{index, step}] in step order;
 *   resets   every unit reset counted (a unit recycled twice counts twice);
 *   units    distinct units ever recycled.
 */
export function recycledIndex(recycled, steps, units) {
  const perStep = new Int32Array(steps.length);
  const events = [];
  const byUnit = new Map();
  const ordered = [...(recycled || [])].sort((a, b) => a[0] - b[0]);
  for (const [step, list] of ordered) {
    const index = firstAtOrAfter(steps, step);
    for (const unit of list) {
      if (!(Number.isInteger(unit) && unit >= 0 && unit < units)) continue;
      events.push({ unit, index, step });
      if (index >= 0) perStep[index]++;
      if (!byUnit.has(unit)) byUnit.set(unit, []);
      byUnit.get(unit).push({ index, step });
    }
  }
  events.sort((a, b) => a.index - b.index || a.unit - b.unit);
  return { events, perStep, byUnit, resets: events.length, units: byUnit.size };
}

/** Index of the first of ascending `steps` that is >= `step`, or -1 if none. */
export function firstAtOrAfter(steps, step) {
  let lo = 0;
  let hi = steps.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (steps[mid] < step) lo = mid + 1;
    else hi = mid;
  }
  return lo < steps.length ? lo : -1;
}

/**
 * The step of `unit`'s last recycling at or before step index `stepIndex` (so
 * the cell of that step, or of a later one, was recycled then), or null when it
 * was not recycled by then.
 */
export function lastRecycling(index, unit, stepIndex) {
  const list = index.byUnit.get(unit);
  if (!list) return null;
  let found = null;
  for (const event of list) {
    if (event.index < 0 || event.index > stepIndex) break;
    found = event.step;
  }
  return found;
}

/**
 * Uint8Array [rows * cols] (row-major, like stats.aggregate's grid): 1 where a
 * cell holds a recycled (unit, step), for the displayed unit positions
 * [unitStart, unitEnd) of `order` and step indices [stepStart, stepEnd). A cell
 * aggregating several units or steps is marked if any of them was recycled there.
 */
export function markerGrid(index, order, view, rows, cols) {
  const out = new Uint8Array(rows * cols);
  const nUnits = view.unitEnd - view.unitStart;
  const nSteps = view.stepEnd - view.stepStart;
  if (!index.events.length || nUnits <= 0 || nSteps <= 0) return out;
  const position = positions(order);
  for (const { unit, index: s } of index.events) {
    const p = position[unit];
    if (s < view.stepStart || s >= view.stepEnd || p < view.unitStart || p >= view.unitEnd) continue;
    // The same bins as stats.binOf: item i of n goes to floor(i * bins / n).
    const row = Math.floor(((p - view.unitStart) * rows) / nUnits);
    const col = Math.floor(((s - view.stepStart) * cols) / nSteps);
    out[row * cols + col] = 1;
  }
  return out;
}

/** The units recycled inside the grid cell (row, col): [{unit, step}] (the tooltip of an aggregated cell). */
export function recycledInCell(index, order, view, rows, cols, row, col) {
  const nUnits = view.unitEnd - view.unitStart;
  const nSteps = view.stepEnd - view.stepStart;
  const p0 = view.unitStart + Math.ceil((row * nUnits) / rows);
  const p1 = view.unitStart + Math.ceil(((row + 1) * nUnits) / rows);
  const s0 = view.stepStart + Math.ceil((col * nSteps) / cols);
  const s1 = view.stepStart + Math.ceil(((col + 1) * nSteps) / cols);
  const position = positions(order);
  return index.events
    .filter(({ unit, index: s }) => s >= s0 && s < s1 && position[unit] >= p0 && position[unit] < p1)
    .map(({ unit, step }) => ({ unit, step }));
}

/** Int32Array: the displayed position of each unit under `order` (position -> unit). */
function positions(order) {
  const out = new Int32Array(order.length);
  for (let p = 0; p < order.length; p++) out[order[p]] = p;
  return out;
}

/** The panel summary's words for the recycled units, e.g. "7 recycled" or "7 recycled (9 resets)"; "" if none. */
export function recycledSummary(index) {
  if (!index || !index.resets) return "";
  return index.resets === index.units ? `${index.units} recycled` : `${index.units} recycled (${index.resets} resets)`;
}

/** Side of a marker in CSS pixels: most of a cell, but never smaller than MIN (visible on 1-pixel rows) nor larger than MAX. */
export const MARKER_MIN = 7;
export const MARKER_MAX = 12;

/**
 * Where to draw the markers of `grid` (markerGrid) on a plot of width x height
 * CSS pixels split into rows x cols cells: [{x, y, size}], the centre of each
 * marked cell and the marker's side. A marker of the bottom rows moves up so
 * that its base stays on the plot (the cell's centre stays inside it); at the
 * other edges the plot cuts off a tip or a corner, never the whole base.
 */
export function markerPlacements(grid, rows, cols, width, height) {
  const cellWidth = width / cols;
  const cellHeight = height / rows;
  const size = Math.max(MARKER_MIN, Math.min(MARKER_MAX, 0.7 * Math.min(cellWidth, cellHeight)));
  const out = [];
  for (let i = 0; i < grid.length; i++) {
    if (!grid[i]) continue;
    const row = Math.floor(i / cols);
    const col = i - row * cols;
    out.push({ x: (col + 0.5) * cellWidth, y: Math.min((row + 0.5) * cellHeight, height - size / 2), size });
  }
  return out;
}
