// The gradient view's pure parts: which tags get a panel, step alignment, mean |gradient|,
// its per-layer log scale, and the per-cell colour positions of both gradient colourings.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  GRAD_MAGNITUDE,
  GRAD_ZEROS,
  alignSteps,
  gradientSeverity,
  logRange,
  magnitudeAt,
  orphanGradientTags,
  magnitudeSeverity,
  meanAbs,
  panelLayers,
} from "../../frontend/gradients.js";
import { GONE, deadCounts } from "../../frontend/stats.js";

test("gradient series join their layer's panel and never get one of their own", () => {
  const tags = {
    dense: { kind: "activations" },
    "dense/gradients": { kind: "gradients" },
    dense_1: { kind: "activations" },
    "orphan/gradients": { kind: "gradients" },
    // An activation layer that happens to be named like a gradient tag is still a layer.
    "dense_1/gradients": { kind: "activations" },
  };
  assert.deepEqual(panelLayers(tags, ["dense", "dense/gradients", "dense_1", "orphan/gradients", "dense_1/gradients"]), [
    { tag: "dense", gradientTag: "dense/gradients" },
    { tag: "dense_1", gradientTag: null },
    { tag: "dense_1/gradients", gradientTag: null },
  ]);
});

test("orphan gradient series are the ones whose layer has no activation series", () => {
  const tags = {
    dense: { kind: "activations" },
    "dense/gradients": { kind: "gradients" },
    "gone/gradients": { kind: "gradients" },
    "odd name": { kind: "gradients" },
  };
  assert.deepEqual(orphanGradientTags(tags), ["gone/gradients", "odd name"]);
  assert.deepEqual(orphanGradientTags({ dense: { kind: "activations" } }), []);
});

test("alignSteps finds the gradient record of each activation step, -1 where there is none", () => {
  assert.deepEqual(Array.from(alignSteps([0, 10, 20, 30], [0, 10, 20, 30])), [0, 1, 2, 3]);
  assert.deepEqual(Array.from(alignSteps([0, 10, 20, 30], [10, 30, 40])), [-1, 0, -1, 1]);
  assert.deepEqual(Array.from(alignSteps([5], [])), [-1]);
});

// 2 steps x 3 units, 4 probe values per unit: unit 0 dead, unit 1 one zero, unit 2 one NaN at step 1.
const series = {
  units: 3,
  steps: [0, 10],
  count: [4, 4],
  zeros: Uint8Array.from([4, 1, 0, 4, 1, 0]),
  absSum: Float32Array.from([0, 0.03, 8, 0, 0.003, 0.6]),
  nonfinite: Uint8Array.from([0, 0, 0, 0, 0, 1]),
};

test("meanAbs divides by the finite values and logRange spans the positive ones", () => {
  const means = meanAbs(series);
  // Sums are float32 on the wire; unit 2 at step 1 has 3 finite values of 4.
  const f = Math.fround;
  assert.deepEqual(Array.from(means), [0, f(0.03) / 4, 2, 0, f(0.003) / 4, f(0.6) / 3]);
  const range = logRange(means);
  assert.equal(range.hi, 2);
  assert.equal(range.lo, Math.fround(0.003) / 4);
  assert.equal(logRange(Float64Array.from([0, NaN, 0])), null);
  const empty = { ...series, nonfinite: Uint8Array.from([0, 0, 4, 0, 0, 0]) };
  assert.ok(Number.isNaN(meanAbs(empty)[2]));
});

test("magnitude scale: the layer's largest gradient is 0, its smallest 1, log-linear between", () => {
  const range = { lo: 1e-6, hi: 1 };
  assert.equal(magnitudeSeverity(1, range), 0);
  assert.equal(magnitudeSeverity(1e-6, range), 1);
  assert.ok(Math.abs(magnitudeSeverity(1e-3, range) - 0.5) < 1e-12);
  assert.ok(Math.abs(magnitudeAt(0.5, range) - 1e-3) < 1e-15);
  assert.equal(magnitudeAt(0, range), 1);
  assert.equal(magnitudeSeverity(0.3, { lo: 0.3, hi: 0.3 }), 0.5);
});

test("zero-share colouring: dead gradient is GONE, otherwise the share; missing steps NaN", () => {
  const align = alignSteps([0, 5, 10], series.steps);
  const sev = gradientSeverity(series, align, GRAD_ZEROS);
  assert.deepEqual(Array.from(sev.slice(0, 3)), [GONE, 0.25, 0]);
  assert.ok(Array.from(sev.slice(3, 6)).every(Number.isNaN));
  assert.deepEqual(Array.from(sev.slice(6, 9)), [GONE, 0.25, 0]);
});

test("magnitude colouring: dead gradient is GONE, others their log position in the layer's range", () => {
  const means = meanAbs(series);
  const range = logRange(means);
  const sev = gradientSeverity(series, alignSteps(series.steps, series.steps), GRAD_MAGNITUDE, means, range);
  assert.equal(sev[0], GONE);
  assert.equal(sev[3], GONE);
  assert.equal(sev[2], 0); // the layer's largest mean |gradient|
  assert.equal(sev[4], 1); // its smallest
  assert.equal(sev[1], Math.fround(magnitudeSeverity(means[1], range)));
  assert.equal(sev[5], Math.fround(magnitudeSeverity(means[5], range)));
});

test("deadCounts of a gradient series counts units with gradient 0 on every probe input", () => {
  assert.deepEqual(Array.from(deadCounts(series)), [1, 1]);
  assert.deepEqual(Array.from(deadCounts({ ...series, count: [0, 1] , zeros: Uint8Array.from([0, 0, 0, 1, 1, 0]) })), [0, 2]);
});
