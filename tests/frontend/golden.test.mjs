// The rules of stats.js against the golden vectors that also pin analysis.py
// (tests/golden/analysis_vectors.json, read by pytest too): one definition of
// dead, nearly dead, death step, revived, still dead, zero fraction and the
// τ-dormant score, and the same defaults, in both languages.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { DEFAULT_TAU, DEFAULT_THRESHOLD, METRIC_DORMANT, METRIC_ZEROS, analyze, deadCounts, dormantScores, isDead, isDormant, isNearlyDead, zeroFraction } from "../../frontend/stats.js";

const golden = JSON.parse(readFileSync(new URL("../golden/analysis_vectors.json", import.meta.url), "utf-8"));

/** A stats.js series from a case's inputs ([S][U] lists flattened step-major into float64 arrays). */
function seriesOf(inputs) {
  const units = inputs.zeros[0].length;
  return {
    units,
    steps: inputs.steps,
    count: inputs.count,
    zeros: Float64Array.from(inputs.zeros.flat()),
    absSum: Float64Array.from(inputs.abs_sum.flat()),
    nonfinite: Float64Array.from(inputs.nonfinite.flat()),
  };
}

/** [S][U] nested list of a step-major array, NaN as null (the fixture's JSON for "no value"). */
function nested(array, steps, units, map = (v) => v) {
  return Array.from({ length: steps }, (_, s) => Array.from(array.slice(s * units, (s + 1) * units), (v) => (Number.isNaN(v) ? null : map(v))));
}

test("the defaults are the fixture's (and analysis.py's)", () => {
  assert.equal(DEFAULT_TAU, golden.defaults.tau);
  assert.equal(DEFAULT_THRESHOLD, golden.defaults.nearly_dead_threshold);
});

test("the fixture has cases, among them a count above 2^32", () => {
  assert.ok(golden.cases.length >= 5);
  assert.ok(golden.cases.some((c) => c.inputs.count.some((n) => n > 2 ** 32)));
});

for (const { name, inputs, expected } of golden.cases) {
  test(`golden case ${name}`, () => {
    const series = seriesOf(inputs);
    const S = inputs.steps.length;
    const U = series.units;
    const zeros = analyze(series, { metric: METRIC_ZEROS, threshold: inputs.threshold, tau: inputs.tau });
    assert.deepEqual(nested(zeros.gone, S, U, Boolean), expected.dead, "dead");
    assert.deepEqual(Array.from(zeros.counts.gone), expected.dead_counts, "dead counts");
    assert.deepEqual(Array.from(deadCounts(series)), expected.dead_counts, "dead counts (gradient view)");
    assert.deepEqual(Array.from(zeros.counts.nearlyDead), expected.nearly_dead_counts, "nearly dead counts");
    assert.deepEqual(Array.from(zeros.deathIdx, (i) => (i >= 0 ? inputs.steps[i] : null)), expected.death_steps, "death steps");
    assert.deepEqual(Array.from(zeros.revived, Boolean), expected.revived, "revived");
    assert.deepEqual(Array.from(zeros.counts.stillGone), expected.still_dead_counts, "still dead");
    // The rules themselves, cell by cell (the loops above take them per step).
    const cells = (rule) => inputs.zeros.map((row, s) => row.map((z) => rule(z, inputs.count[s])));
    assert.deepEqual(cells(isDead), expected.dead, "isDead");
    const nearly = cells((z, c) => isNearlyDead(z, c, inputs.threshold)).map((row) => row.filter(Boolean).length);
    assert.deepEqual(nearly, expected.nearly_dead_counts, "isNearlyDead");
    const dormantCells = expected.dormant_scores.map((row) => row.filter((v) => isDormant(v ?? NaN, inputs.tau)).length);
    assert.deepEqual(dormantCells, expected.dormant_counts, "isDormant");
    const fractions = inputs.zeros.map((row, s) => row.map((z) => zeroFraction(z, inputs.count[s])));
    assert.deepEqual(fractions.map((row) => row.map((v) => (Number.isNaN(v) ? null : v))), expected.zero_fractions, "zero fractions");

    assert.deepEqual(nested(dormantScores(series), S, U), expected.dormant_scores, "dormant scores");
    const dormant = analyze(series, { metric: METRIC_DORMANT, threshold: inputs.threshold, tau: inputs.tau });
    assert.deepEqual(Array.from(dormant.counts.gone), expected.dormant_counts, "dormant counts");
  });
}
