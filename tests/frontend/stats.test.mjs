// Dead/nearly-dead/dormant definitions, death steps, sorting and aggregation on hand-checked data.
import assert from "node:assert/strict";
import { test } from "node:test";

import { dormantScalePosition } from "../../frontend/colors.js";
import {
  GONE,
  METRIC_DORMANT,
  METRIC_ZEROS,
  SORT_DEATH,
  SORT_INDEX,
  SORT_LATEST,
  aggregate,
  analyze,
  binOf,
  binRange,
  countPerStep,
  deadMask,
  deathStepIndices,
  dormantMask,
  dormantScores,
  nearlyDeadMask,
  revivedUnits,
  stillSetPerStep,
  unitOrder,
  worstCell,
  zeroFractions,
} from "../../frontend/stats.js";

// 4 steps x 5 units, count 10 per step except step 2 (nothing observed... no: count 10)
// unit 0: always alive; unit 1: dead from step 1 on; unit 2: dead at step 0 only (revived);
// unit 3: dead at steps 0 and 3 (death step index 3, not revived); unit 4: 99% zeros then dead at the end.
const steps = [0, 5, 10, 15];
const series = {
  units: 5,
  steps,
  count: [100, 100, 100, 100],
  zeros: Uint16Array.from([
    [0, 50, 100, 100, 99],
    [10, 100, 20, 30, 99],
    [20, 100, 0, 99, 98],
    [30, 100, 0, 100, 100],
  ].flat()),
  absSum: null,
  nonfinite: null,
};

test("zero fractions and dead mask", () => {
  const f = zeroFractions(series);
  assert.ok(Math.abs(f[1 * 5 + 0] - 0.1) < 1e-7);
  assert.equal(f[4], 0.9900000095367432); // float32 of 0.99
  assert.deepEqual(Array.from(countPerStep(deadMask(series), 4, 5)), [2, 1, 1, 3]);
});

test("a step with nothing observed has no dead units and NaN fractions", () => {
  const s = { ...series, count: [0, 100, 100, 100], zeros: series.zeros };
  assert.deepEqual(Array.from(deadMask(s).slice(0, 5)), [0, 0, 0, 0, 0]);
  assert.ok(zeroFractions(s).slice(0, 5).every(Number.isNaN));
});

test("nearly dead counts zeros >= threshold * count", () => {
  assert.deepEqual(Array.from(countPerStep(nearlyDeadMask(series, 0.99), 4, 5)), [3, 2, 2, 3]);
  assert.deepEqual(Array.from(countPerStep(nearlyDeadMask(series, 1), 4, 5)), [2, 1, 1, 3]);
  assert.deepEqual(Array.from(countPerStep(nearlyDeadMask(series, 0.5), 4, 5)), [4, 2, 3, 3]);
});

test("death step: first step from which the unit is dead at every later step", () => {
  const dead = deadMask(series);
  assert.deepEqual(Array.from(deathStepIndices(dead, 4, 5)), [-1, 1, -1, 3, 3]);
  assert.deepEqual(Array.from(revivedUnits(dead, 4, 5)), [0, 0, 1, 0, 0]);
  // Dead at step s and at the latest step (ReDo persistence): step 0 -> units 3 (2 is not dead at the end).
  assert.deepEqual(Array.from(stillSetPerStep(dead, 4, 5)), [1, 1, 1, 3]);
});

test("no steps: nobody died, nobody revived", () => {
  assert.deepEqual(Array.from(deathStepIndices(new Uint8Array(0), 0, 3)), [-1, -1, -1]);
  assert.deepEqual(Array.from(revivedUnits(new Uint8Array(0), 0, 3)), [0, 0, 0]);
});

test("sorting by index, death step and latest value", () => {
  const a = analyze(series, { metric: METRIC_ZEROS, tau: 0.025, threshold: 0.99 });
  const ctx = { units: 5, steps: 4, deathIdx: a.deathIdx, severity: a.severity };
  assert.deepEqual(Array.from(unitOrder(SORT_INDEX, ctx)), [0, 1, 2, 3, 4]);
  assert.deepEqual(Array.from(unitOrder(SORT_DEATH, ctx)), [1, 3, 4, 0, 2]);
  // latest step: units 1, 3, 4 dead (GONE, ties by index), then unit 0 (0.3), then unit 2 (0).
  assert.deepEqual(Array.from(unitOrder(SORT_LATEST, ctx)), [1, 3, 4, 0, 2]);
});

test("dormant score follows Sokar et al.: mean|a| over finite values divided by the layer mean", () => {
  const s = {
    units: 4,
    steps: [0, 1],
    count: [10, 10],
    zeros: new Uint8Array(8),
    absSum: Float32Array.from([10, 20, 0, 30, /* step 1: all silent */ 0, 0, 0, 0]),
    // unit 3 saw 5 NaN/Inf at step 0: its mean is 30/5 = 6.
    nonfinite: Uint8Array.from([0, 0, 0, 5, 0, 0, 0, 10]),
  };
  const scores = dormantScores(s);
  // means 1, 2, 0, 6 -> layer mean 9/4 = 2.25
  const expected = [1 / 2.25, 2 / 2.25, 0, 6 / 2.25];
  for (let u = 0; u < 4; u++) assert.ok(Math.abs(scores[u] - expected[u]) < 1e-12, `unit ${u}`);
  // A silent layer: every observed unit scores 0; a unit without finite values is NaN.
  assert.deepEqual(Array.from(scores.slice(4, 7)), [0, 0, 0]);
  assert.ok(Number.isNaN(scores[7]));
  assert.deepEqual(Array.from(dormantMask(scores, 0.5)), [1, 0, 1, 0, 1, 1, 1, 0]);
});

test("analyze in the dormant metric colours by score and counts dormant units", () => {
  const s = { ...series, absSum: Float32Array.from({ length: 20 }, (_, i) => (i % 5 === 1 ? 0 : 100)), nonfinite: null };
  const a = analyze(s, { metric: METRIC_DORMANT, tau: 0.025, threshold: 0.99 }, dormantScalePosition);
  assert.deepEqual(Array.from(a.counts.gone), [1, 1, 1, 1]);
  assert.equal(a.counts.nearlyDead, null);
  assert.equal(a.severity[1], GONE);
  // the other units score 100 / 80 = 1.25 -> position 1 - 1.25/2 = 0.375
  assert.equal(a.severity[0], Math.fround(0.375));
  assert.deepEqual(Array.from(a.deathIdx), [-1, 0, -1, -1, -1]);
});

test("binOf and binRange agree", () => {
  for (const [n, bins] of [[10, 3], [4096, 320], [7, 7], [1000, 640]]) {
    const of = binOf(n, bins);
    for (let b = 0; b < bins; b++) {
      const [start, end] = binRange(n, bins, b);
      assert.ok(end > start, `bin ${b} of ${n}/${bins} is empty`);
      for (let i = start; i < end; i++) assert.equal(of[i], b);
    }
  }
});

test("aggregation keeps the worst cell of each bin and ignores NaN", () => {
  // 2 steps x 6 units
  const sev = Float32Array.from([0.1, 0.2, NaN, NaN, GONE, 0, /* step 1 */ 0.3, 0.0, NaN, NaN, 0.5, 0.6]);
  const order = Int32Array.from([0, 1, 2, 3, 4, 5]);
  const view = { unitStart: 0, unitEnd: 6, stepStart: 0, stepEnd: 2 };
  const grid = aggregate(sev, 6, order, view, 3, 2);
  const expected = [0.2, 0.3, NaN, NaN, GONE, 0.6];
  expected.forEach((v, i) => (Number.isNaN(v) ? assert.ok(Number.isNaN(grid[i])) : assert.equal(grid[i], Math.fround(v))));
  // One column for both steps.
  assert.deepEqual(Array.from(aggregate(sev, 6, order, view, 3, 1)).map((v) => (Number.isNaN(v) ? "nan" : v)), [Math.fround(0.3), "nan", GONE]);
  // The tooltip finds the cell behind a bin.
  assert.deepEqual(worstCell(sev, 6, order, view, 3, 1, 2, 0), { unit: 4, stepIndex: 0 });
  assert.deepEqual(worstCell(sev, 6, order, view, 3, 1, 0, 0), { unit: 0, stepIndex: 1 });
});

test("aggregation follows the unit order and the zoomed view", () => {
  const sev = Float32Array.from([0, 0.1, 0.2, 0.3]); // 1 step x 4 units
  const order = Int32Array.from([3, 2, 1, 0]);
  const grid = aggregate(sev, 4, order, { unitStart: 1, unitEnd: 3, stepStart: 0, stepEnd: 1 }, 2, 1);
  assert.deepEqual(Array.from(grid), [Math.fround(0.2), Math.fround(0.1)]);
});

test("a 4,096 x 1,000 layer aggregates to a canvas-sized grid", () => {
  const units = 4096;
  const S = 1000;
  const sev = new Float32Array(units * S);
  sev[999 * units + 4095] = GONE;
  const order = Int32Array.from({ length: units }, (_, u) => u);
  const grid = aggregate(sev, units, order, { unitStart: 0, unitEnd: units, stepStart: 0, stepEnd: S }, 320, 640);
  assert.equal(grid.length, 320 * 640);
  assert.equal(grid[319 * 640 + 639], GONE);
  assert.equal(grid.filter((v) => v === GONE).length, 1);
});
