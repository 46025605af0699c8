// The whole-network view's pure part: the shared step axis, the share grid of
// layers x steps, the record behind a cell, and the colours of shares.
import assert from "node:assert/strict";
import { test } from "node:test";

import { NONE_GONE_RGB, NO_DATA_RGB, shareInto } from "../../frontend/colors.js";
import { cellRecord, goneCounts, paintShares, shareGrid, sharedSteps } from "../../frontend/network.js";
import { METRIC_DORMANT, METRIC_ZEROS } from "../../frontend/stats.js";

// Run A: two layers over steps 0, 10, 20; run B: one layer over steps 0, 10, 30.
const layerA0 = { tag: "conv1", units: 4, steps: [0, 10, 20], count: [9, 9, 9], dead: [0, 1, 4], dormant: [1, 2, 4] };
const layerA1 = { tag: "conv2", units: 8, steps: [0, 10, 20], count: [9, 0, 9], dead: [2, 0, 8], dormant: [2, 0, 8] };
const layerB0 = { tag: "conv1", units: 2, steps: [0, 10, 30], count: [5, 5, 5], dead: [0, 1, 2] };
const runA = { run: "a", layers: [layerA0, layerA1] };
const runB = { run: "b", layers: [layerB0] };

test("runs share one step axis: the sorted union of their steps", () => {
  assert.deepEqual(Array.from(sharedSteps([runA, runB])), [0, 10, 20, 30]);
  assert.deepEqual(Array.from(sharedSteps([])), []);
});

test("each cell is the layer's dead share at that step; no record or nothing observed is NaN", () => {
  const steps = sharedSteps([runA, runB]);
  const a = shareGrid(runA.layers, steps, steps.length, METRIC_ZEROS);
  const show = (grid) => Array.from(grid, (v) => (Number.isNaN(v) ? "-" : v));
  assert.deepEqual(show(a), [0, 0.25, 1, "-", /* conv2: count 0 at step 10 */ 0.25, "-", 1, "-"]);
  assert.deepEqual(show(shareGrid(runB.layers, steps, steps.length, METRIC_ZEROS)), [0, 0.5, "-", 1]);
  assert.deepEqual(show(shareGrid(runA.layers, steps, steps.length, METRIC_DORMANT)), [0.25, 0.5, 1, "-", 0.25, "-", 1, "-"]);
  // No dormant counts in the answer: the row has no data rather than wrong data.
  assert.equal(goneCounts(layerB0, METRIC_DORMANT), null);
  assert.deepEqual(show(shareGrid(runB.layers, steps, steps.length, METRIC_DORMANT)), ["-", "-", "-", "-"]);
});

test("fewer columns than steps: a cell shows the worst step of its bin, and the tooltip finds that step", () => {
  const steps = sharedSteps([runA, runB]); // 4 steps in 2 columns: {0, 10}, {20, 30}
  const grid = shareGrid(runA.layers, steps, 2, METRIC_ZEROS);
  assert.deepEqual(Array.from(grid), [0.25, 1, 0.25, 1]);
  assert.deepEqual(cellRecord(layerA0, steps, 2, 0, METRIC_ZEROS), { stepIndex: 1, step: 10, gone: 1, units: 4 });
  assert.deepEqual(cellRecord(layerA1, steps, 2, 0, METRIC_ZEROS), { stepIndex: 0, step: 0, gone: 2, units: 8 });
  assert.equal(cellRecord(layerB0, steps, 4, 2, METRIC_ZEROS), null); // run B has no step 20
  // The worst step first in its bin still wins (3 of 4 dead, then 1).
  const recovering = { tag: "x", units: 4, steps: [0, 10], count: [1, 1], dead: [3, 1] };
  assert.deepEqual(Array.from(shareGrid([recovering], [0, 10], 1, METRIC_ZEROS)), [0.75]);
  assert.deepEqual(cellRecord(recovering, [0, 10], 1, 0, METRIC_ZEROS), { stepIndex: 0, step: 0, gone: 3, units: 4 });
});

test("share colours: none is the pale blue end, any share starts the yellow-orange-brown ramp", () => {
  const rgb = (share) => {
    const out = [0, 0, 0];
    shareInto(share, out, 0);
    return out;
  };
  assert.deepEqual(rgb(0), [...NONE_GONE_RGB]);
  assert.deepEqual(rgb(1), [153, 52, 4]);
  assert.deepEqual(rgb(7), [153, 52, 4]);
  assert.deepEqual(rgb(1e-12), [255, 237, 160]);
  assert.deepEqual(rgb(0.5), [254, 153, 41]);
  // a quarter: halfway between the first two stops, (255+254)/2 = 254.5 -> 255, (237+153)/2 = 195, (160+41)/2 = 100.5 -> 101
  assert.deepEqual(rgb(0.25), [255, 195, 101]);
  // three quarters: (254+153)/2 = 203.5 -> 204, (153+52)/2 = 102.5 -> 103, (41+4)/2 = 22.5 -> 23
  assert.deepEqual(rgb(0.75), [204, 103, 23]);
  const painted = paintShares(Float64Array.from([0.25, NaN]));
  assert.deepEqual(Array.from(painted), [255, 195, 101, 255, ...NO_DATA_RGB, 255]);
});
