// The one order of names (frontend/ordering.js) against the golden vectors that
// also pin core/ordering.py (tests/golden/ordering_vectors.json, read by
// tests/test_ordering.py too), and the tab's sorts that use it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { orphanGradientTags } from "../../frontend/gradients.js";
import { layersInModelOrder, sortedRuns } from "../../frontend/model.js";
import { compareLayers, compareNames, sortNames, tokenize } from "../../frontend/ordering.js";

const golden = JSON.parse(readFileSync(new URL("../golden/ordering_vectors.json", import.meta.url), "utf-8"));

// Each "a < b" of the rule's description, also asserted in test_ordering.py.
const EXAMPLES = [
  ["dense_2", "dense_10"],
  ["conv", "Dense_10"],
  ["Conv", "conv"],
  ["a-1", "a_1"],
  ["lr0.001_bs64", "lr0.01_bs64"],
  ["lr0.01_bs64", "lr0.1_bs64"],
  ["lr0.1_bs64", "lr1_bs64"],
  ["lr1e-4", "lr1e-3"],
  ["lr1e-3", "lr0.01"],
  ["blocks.1.9", "blocks.1.10"],
  ["v1.2.3", "v1.10.0"],
  ["sweep/lr0.01_wd0_seed3", "sweep/lr0.01_wd0_seed10"],
  ["run", "run_1"],
  ["x01", "x1"],
];

/** A copy of `items` in an order fixed by `seed` (mulberry32 driving Fisher-Yates). */
function shuffled(items, seed) {
  let state = seed + 0x6d2b79f5;
  const random = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

test("the fixture has groups, model-order cases and token cases", () => {
  assert.ok(golden.groups.length >= 8);
  assert.ok(golden.model_order.length >= 3);
  assert.ok(golden.tokens.length >= 5);
  assert.ok(golden.groups.some((g) => g.names.includes("")));
});

for (const { name, names } of golden.groups) {
  test(`group: ${name}`, () => {
    assert.equal(new Set(names).size, names.length);
    for (let seed = 0; seed < 5; seed++) {
      assert.deepEqual(shuffled(names, seed).sort(compareNames), names, `seed ${seed}`);
      assert.deepEqual(sortNames(shuffled(names, seed)), names, `sortNames, seed ${seed}`);
    }
    assert.deepEqual(names.slice().reverse().sort(compareNames), names);
    // Every pair, both ways: -1/0/1, antisymmetric, 0 only for the same name.
    for (let i = 0; i < names.length; i++) {
      for (let j = 0; j < names.length; j++) {
        assert.equal(compareNames(names[i], names[j]), Math.sign(i - j), `${JSON.stringify(names[i])} vs ${JSON.stringify(names[j])}`);
      }
    }
  });
}

for (const { name, layers } of golden.model_order) {
  test(`model order: ${name}`, () => {
    const expected = layers.map((l) => l.tag);
    for (let seed = 0; seed < 5; seed++) {
      const mixed = shuffled(layers, seed);
      assert.deepEqual(mixed.slice().sort(compareLayers).map((l) => l.tag), expected, `seed ${seed}`);
      // The tab's own sort, over a `tags` route entry (order missing = null).
      const tagsOfRun = Object.fromEntries(mixed.map((l) => [l.tag, l.order === null ? {} : { order: l.order }]));
      assert.deepEqual(layersInModelOrder(tagsOfRun), expected, `layersInModelOrder, seed ${seed}`);
    }
  });
}

for (const { name, tokens } of golden.tokens) {
  test(`tokens of ${JSON.stringify(name)}`, () => {
    assert.deepEqual(
      tokenize(name).map((t) => [t.number ? "number" : "text", t.text]),
      tokens,
    );
  });
}

test("the examples of the rule", () => {
  for (const [a, b] of EXAMPLES) {
    assert.equal(compareNames(a, b), -1, `${a} < ${b}`);
    assert.equal(compareNames(b, a), 1, `${b} > ${a}`);
  }
});

test("equal values differ only in the final tie-break by code points", () => {
  for (const [a, b] of [["x01", "x1"], ["x0.10", "x0.1"], ["lr0.001", "lr1e-3"], ["wd0", "wd0.000"], ["Conv", "conv"]]) {
    // Same tokens but for the source text: compared with a common prefix that the tie-break never reaches.
    assert.equal(compareNames(`${a}_a`, `${b}_b`), -1, `${a}_a < ${b}_b`);
    assert.equal(compareNames(`${a}_b`, `${b}_a`), 1, `${a}_b > ${b}_a`);
  }
});

test("code points, not UTF-16 units: U+FF5E comes before U+1F600", () => {
  assert.equal(compareNames("x\uff5e", "x\u{1f600}"), -1);
  assert.ok("x\uff5e" > "x\u{1f600}", "JavaScript's own < orders them the other way");
});

test("exponents of any length compare exactly", () => {
  const small = "x1e" + "9".repeat(5000);
  const large = "x1e1" + "0".repeat(5000);
  assert.deepEqual([large, small].sort(compareNames), [small, large]);
});

test("the tab lists runs and orphan gradient series in the same order", () => {
  const names = golden.groups.find((g) => g.name.startsWith("runs")).names;
  assert.deepEqual(sortedRuns(Object.fromEntries(shuffled(names, 1).map((n) => [n, {}]))), names);
  const tags = Object.fromEntries(shuffled(["dense_10/gradients", "dense_2/gradients", "Conv/gradients"], 2).map((t) => [t, { kind: "gradients" }]));
  assert.deepEqual(orphanGradientTags(tags), ["Conv/gradients", "dense_2/gradients", "dense_10/gradients"]);
});
