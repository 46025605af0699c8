// Recycled units (ReDo) on a layer's panel: placing the overview's [[step, [units]]] on the
// series' steps, per-step counts, the last recycling of a unit, the marked cells of the
// (aggregated, sorted, zoomed) grid, the tooltip's cell contents and the summary words.
import assert from "node:assert/strict";
import { test } from "node:test";

import { chartLines } from "../../frontend/chart.js";
import {
  MARKER_MIN,
  firstAtOrAfter,
  lastRecycling,
  markerGrid,
  markerPlacements,
  recycledInCell,
  recycledIndex,
  recycledSummary,
} from "../../frontend/recycled.js";
import { aggregate } from "../../frontend/stats.js";

const STEPS = [0, 1, 2, 3, 4];
// Unit 1 recycled after step 1 and again after step 3; units 3 and 4 after step 1.
const RECYCLED = [[3, [1]], [1, [1, 3, 4]]];
const identity = (n) => Int32Array.from({ length: n }, (_, u) => u);
const full = (units, steps) => ({ unitStart: 0, unitEnd: units, stepStart: 0, stepEnd: steps });

test("events land on their step's column and are counted per step, resets and distinct units", () => {
  const index = recycledIndex(RECYCLED, STEPS, 6);
  assert.deepEqual([...index.perStep], [0, 3, 0, 1, 0]);
  assert.deepEqual(index.events.map((e) => [e.unit, e.index, e.step]), [[1, 1, 1], [3, 1, 1], [4, 1, 1], [1, 3, 3]]);
  assert.equal(index.resets, 4);
  assert.equal(index.units, 3);
  assert.equal(recycledSummary(index), "3 recycled (4 resets)");
  assert.equal(recycledSummary(recycledIndex([[1, [0, 2]]], STEPS, 6)), "2 recycled");
  assert.equal(recycledSummary(recycledIndex(null, STEPS, 6)), "");
  assert.equal(recycledSummary(null), "");
});

test("a step TensorBoard did not keep goes to the next kept step; past the last one, to no column", () => {
  const kept = [0, 10, 20];
  assert.equal(firstAtOrAfter(kept, 10), 1);
  assert.equal(firstAtOrAfter(kept, 11), 2);
  assert.equal(firstAtOrAfter(kept, 21), -1);
  const index = recycledIndex([[5, [0]], [25, [1]]], kept, 2);
  assert.deepEqual([...index.perStep], [0, 1, 0]);
  assert.equal(index.resets, 2);
  assert.equal(lastRecycling(index, 0, 1), 5); // the tooltip names the real step
  assert.equal(lastRecycling(index, 1, 2), null);
});

test("units outside the layer are left out", () => {
  const index = recycledIndex([[1, [0, 7, -1]]], STEPS, 2);
  assert.deepEqual(index.events.map((e) => e.unit), [0]);
});

test("last recycling of a unit at a step: none before, the step itself, then the latest one", () => {
  const index = recycledIndex(RECYCLED, STEPS, 6);
  assert.deepEqual([0, 1, 2, 3, 4].map((s) => lastRecycling(index, 1, s)), [null, 1, 1, 3, 3]);
  assert.deepEqual([0, 1, 2, 3, 4].map((s) => lastRecycling(index, 3, s)), [null, 1, 1, 1, 1]);
  assert.deepEqual([0, 1, 2, 3, 4].map((s) => lastRecycling(index, 0, s)), [null, null, null, null, null]);
});

test("one cell per (unit, step): exactly the recycled cells are marked", () => {
  const index = recycledIndex(RECYCLED, STEPS, 6);
  const grid = markerGrid(index, identity(6), full(6, 5), 6, 5);
  const marked = [];
  grid.forEach((v, i) => v && marked.push([Math.floor(i / 5), i % 5]));
  assert.deepEqual(marked, [[1, 1], [1, 3], [3, 1], [4, 1]]);
});

test("sorted units: the marker follows the unit to its displayed row", () => {
  const index = recycledIndex([[2, [0]]], STEPS, 3);
  const order = Int32Array.from([2, 0, 1]); // unit 0 is shown second
  const grid = markerGrid(index, order, full(3, 5), 3, 5);
  assert.equal(grid[1 * 5 + 2], 1);
  assert.equal(grid.reduce((a, b) => a + b, 0), 1);
});

test("aggregated rows and columns: a bin is marked if any of its units was recycled there, with aggregate's bins", () => {
  const units = 4096;
  const steps = [0, 1];
  const index = recycledIndex([[1, [4095, 17]]], steps, units);
  const rows = 320;
  const grid = markerGrid(index, identity(units), full(units, 2), rows, 2);
  // The same bins as stats.aggregate: put a severity at the recycled cells and compare.
  const sev = new Float32Array(2 * units);
  sev[1 * units + 4095] = 1;
  sev[1 * units + 17] = 1;
  const agg = aggregate(sev, units, identity(units), full(units, 2), rows, 2);
  const fromAggregate = Array.from(agg, (v) => (v === 1 ? 1 : 0));
  assert.deepEqual([...grid], fromAggregate);
  assert.equal(grid[(rows - 1) * 2 + 1], 1);
  assert.equal(grid[Math.floor((17 * rows) / units) * 2 + 1], 1);
  assert.equal(grid.reduce((a, b) => a + b, 0), 2);
  // Many steps per column too.
  const long = Array.from({ length: 100 }, (_, s) => s);
  const byColumn = markerGrid(recycledIndex([[57, [3]]], long, 8), identity(8), full(8, 100), 8, 10);
  assert.equal(byColumn[3 * 10 + 5], 1);
});

test("zoomed view: markers outside it are not drawn, inside it are shifted", () => {
  const index = recycledIndex(RECYCLED, STEPS, 6);
  const view = { unitStart: 3, unitEnd: 5, stepStart: 1, stepEnd: 3 };
  const grid = markerGrid(index, identity(6), view, 2, 2);
  assert.deepEqual([...grid], [1, 0, 1, 0]); // units 3 and 4 at step index 1; unit 1 is outside
});

test("the tooltip of an aggregated cell lists the recycled units it holds", () => {
  const units = 4096;
  const index = recycledIndex([[1, [4095, 4094, 17]]], [0, 1], units);
  const rows = 320;
  const cell = recycledInCell(index, identity(units), full(units, 2), rows, 2, rows - 1, 1);
  assert.deepEqual(cell, [{ unit: 4094, step: 1 }, { unit: 4095, step: 1 }]);
  assert.deepEqual(recycledInCell(index, identity(units), full(units, 2), rows, 2, rows - 1, 0), []);
});

test("markers sit at the centres of marked cells and never shrink below the minimum size", () => {
  const grid = Uint8Array.from([0, 1, 0, 0, 0, 1]); // 2 rows x 3 cols
  const placed = markerPlacements(grid, 2, 3, 300, 100);
  assert.deepEqual(placed.map(({ x, y }) => [x, y]), [[150, 25], [250, 75]]);
  assert.ok(placed.every((p) => p.size >= MARKER_MIN && p.size <= 12));
  const tiny = markerPlacements(Uint8Array.from([1]), 320, 1, 640, 320 / 4096);
  assert.equal(tiny[0].size, MARKER_MIN);
  // The last of 320 one-pixel rows: moved up so that the base is on the plot.
  const bottom = markerPlacements(Uint8Array.from([0, 1]), 2, 1, 640, 2)[0];
  assert.equal(bottom.y, 2 - MARKER_MIN / 2);
});

test("the chart gets a recycled series only for a layer with recycled units", () => {
  const counts = { gone: Int32Array.from([0, 2]), nearlyDead: Int32Array.from([0, 2]), stillGone: Int32Array.from([0, 0]) };
  assert.deepEqual(chartLines(counts, "dead").map((l) => l.label), ["dead", "nearly dead", "still dead at the end"]);
  const perStep = Int32Array.from([0, 2]);
  const lines = chartLines(counts, "dead", perStep);
  assert.equal(lines.at(-1).label, "recycled");
  assert.equal(lines.at(-1).values, perStep);
  assert.equal(lines.at(-1).color, "rgb(0, 158, 115)");
});
