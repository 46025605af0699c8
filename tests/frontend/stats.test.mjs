// Dead/nearly-dead/dormant definitions, death steps, sorting and aggregation on
// hand-checked data (the same definitions as tensorboard_plugin_deadrelu/analysis.py).
import assert from "node:assert/strict";
import { test } from "node:test";

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
  deathStepIndices,
  dormantScores,
  dormantSeverity,
  persistence,
  unitOrder,
  worstCell,
} from "../../frontend/stats.js";

// 4 steps x 5 units, 100 values per unit and step.
// unit 0: never dead; unit 1: dead from step 5 on; unit 2: dead at step 0 only (revived);
// unit 3: dead at steps 0, 5 and 15 (died for good at 15); unit 4: 99% zeros, dead at the end.
const zerosTable = [
  [0, 50, 100, 100, 99],
  [10, 100, 20, 100, 99],
  [20, 100, 0, 99, 98],
  [30, 100, 0, 100, 100],
];
const series = {
  units: 5,
  steps: [0, 5, 10, 15],
  count: [100, 100, 100, 100],
  zeros: Uint16Array.from(zerosTable.flat()),
  absSum: null,
  nonfinite: null,
};
const settings = (extra = {}) => ({ metric: METRIC_ZEROS, tau: 0.025, threshold: 0.99, ...extra });
const f32 = Math.fround;

test("severity is the zero fraction, GONE for dead cells", () => {
  const a = analyze(series, settings());
  assert.equal(a.severity[1 * 5 + 0], f32(0.1));
  assert.equal(a.severity[4], f32(0.99));
  assert.equal(a.severity[1], f32(0.5));
  assert.deepEqual([2, 3].map((u) => a.severity[u]), [GONE, GONE]);
  assert.deepEqual(Array.from(a.counts.gone), [2, 2, 1, 3]);
  assert.equal(a.scores, null);
});

test("a step with nothing observed has no dead units and NaN severity", () => {
  const a = analyze({ ...series, count: [0, 100, 100, 100] }, settings());
  assert.ok(Array.from(a.severity.slice(0, 5)).every(Number.isNaN));
  assert.equal(a.counts.gone[0], 0);
  assert.equal(a.counts.nearlyDead[0], 0);
});

test("nearly dead counts zeros >= threshold * count, dead units included", () => {
  assert.deepEqual(Array.from(analyze(series, settings()).counts.nearlyDead), [3, 3, 2, 3]);
  assert.deepEqual(Array.from(analyze(series, settings({ threshold: 1 })).counts.nearlyDead), [2, 2, 1, 3]);
  assert.deepEqual(Array.from(analyze(series, settings({ threshold: 0.5 })).counts.nearlyDead), [4, 3, 3, 3]);
});

test("death step, revived and still-dead follow the overview definitions", () => {
  const a = analyze(series, settings());
  assert.deepEqual(Array.from(a.deathIdx), [-1, 1, -1, 3, 3]);
  assert.deepEqual(Array.from(a.revived), [0, 0, 1, 0, 0]);
  // dead at step s and at the latest step: step 0 {3}, step 5 {1, 3}, step 10 {1}, step 15 {1, 3, 4}
  assert.deepEqual(Array.from(a.counts.stillGone), [1, 2, 1, 3]);
});

test("persistence and death steps of a mask without steps", () => {
  assert.deepEqual(Array.from(deathStepIndices(new Uint8Array(0), 0, 3)), [-1, -1, -1]);
  const { still, revived } = persistence(new Uint8Array(0), 0, 3);
  assert.equal(still.length, 0);
  assert.deepEqual(Array.from(revived), [0, 0, 0]);
});

test("sorting by index, death step and latest value", () => {
  const a = analyze(series, settings());
  const ctx = { units: 5, steps: 4, deathIdx: a.deathIdx, severity: a.severity };
  assert.deepEqual(Array.from(unitOrder(SORT_INDEX, ctx)), [0, 1, 2, 3, 4]);
  // died at index 1 (unit 1), at 3 (units 3, 4), never (0, 2)
  assert.deepEqual(Array.from(unitOrder(SORT_DEATH, ctx)), [1, 3, 4, 0, 2]);
  // latest step: units 1, 3, 4 dead (ties by index), then unit 0 (0.3), then unit 2 (0)
  assert.deepEqual(Array.from(unitOrder(SORT_LATEST, ctx)), [1, 3, 4, 0, 2]);
});

test("dormant score follows Sokar et al.: mean|a| over finite values divided by the layer mean", () => {
  const s = {
    units: 4,
    steps: [0, 1],
    count: [10, 10],
    zeros: new Uint8Array(8),
    absSum: Float32Array.from([10, 20, 0, 30, /* step 1: all silent */ 0, 0, 0, 0]),
    // unit 3 saw 5 NaN/Inf at step 0, so its mean is 30 / 5 = 6; at step 1 it saw no finite value.
    nonfinite: Uint8Array.from([0, 0, 0, 5, 0, 0, 0, 10]),
  };
  const scores = dormantScores(s);
  // means 1, 2, 0, 6 -> layer mean 9 / 4 = 2.25
  [1 / 2.25, 2 / 2.25, 0, 6 / 2.25].forEach((v, u) => assert.equal(scores[u], v, `unit ${u}`));
  // A silent layer: every observed unit scores 0; a unit without finite values is NaN (not dormant).
  assert.deepEqual(Array.from(scores.slice(4, 7)), [0, 0, 0]);
  assert.ok(Number.isNaN(scores[7]));
  const a = analyze(s, settings({ metric: METRIC_DORMANT, tau: 0.5 }));
  assert.deepEqual(Array.from(a.gone), [1, 0, 1, 0, 1, 1, 1, 0]);
  assert.deepEqual(Array.from(a.counts.gone), [2, 3]);
  assert.equal(a.counts.nearlyDead, null);
  assert.equal(a.severity[1], f32(dormantSeverity(2 / 2.25)));
  assert.ok(Number.isNaN(a.severity[7]));
});

test("dormant severity: 0 is darkest, the layer mean mid-scale, twice the mean or more palest", () => {
  assert.equal(dormantSeverity(0), 1);
  assert.equal(dormantSeverity(1), 0.5);
  assert.equal(dormantSeverity(2), 0);
  assert.equal(dormantSeverity(40), 0);
});

test("tau = 0 marks only units with zero mean |activation| dormant", () => {
  const s = { ...series, absSum: Float32Array.from({ length: 20 }, (_, i) => (i % 5 === 1 ? 0 : 100)), nonfinite: null };
  const a = analyze(s, settings({ metric: METRIC_DORMANT, tau: 0 }));
  assert.deepEqual(Array.from(a.counts.gone), [1, 1, 1, 1]);
  // the other units score 100 / 80 = 1.25 -> 1 - 1.25 / 2 = 0.375
  assert.equal(a.severity[0], f32(0.375));
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
  [0.2, 0.3, NaN, NaN, GONE, 0.6].forEach((v, i) => (Number.isNaN(v) ? assert.ok(Number.isNaN(grid[i])) : assert.equal(grid[i], f32(v))));
  const oneColumn = Array.from(aggregate(sev, 6, order, view, 3, 1)).map((v) => (Number.isNaN(v) ? "nan" : v));
  assert.deepEqual(oneColumn, [f32(0.3), "nan", GONE]);
  // The tooltip finds the cell behind a bin.
  assert.deepEqual(worstCell(sev, 6, order, view, 3, 1, 2, 0), { unit: 4, stepIndex: 0 });
  assert.deepEqual(worstCell(sev, 6, order, view, 3, 1, 0, 0), { unit: 0, stepIndex: 1 });
});

test("aggregation follows the unit order and the zoomed view", () => {
  const sev = Float32Array.from([0, 0.1, 0.2, 0.3]); // 1 step x 4 units
  const order = Int32Array.from([3, 2, 1, 0]);
  const grid = aggregate(sev, 4, order, { unitStart: 1, unitEnd: 3, stepStart: 0, stepEnd: 1 }, 2, 1);
  assert.deepEqual(Array.from(grid), [f32(0.2), f32(0.1)]);
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

test("reusing a previous analysis' arrays gives the same result as a fresh one", () => {
  const s = { ...series, absSum: Float32Array.from({ length: 20 }, (_, i) => i % 7), nonfinite: null };
  const zerosFirst = analyze(s, settings());
  const dormant = analyze(s, settings({ metric: METRIC_DORMANT, tau: 0.3 }), zerosFirst);
  assert.deepEqual(dormant, analyze(s, settings({ metric: METRIC_DORMANT, tau: 0.3 })));
  const back = analyze(s, settings({ threshold: 0.5 }), dormant);
  assert.deepEqual(back, analyze(s, settings({ threshold: 0.5 })));
  assert.equal(back.severity, zerosFirst.severity); // the same buffer, overwritten
});
