import { test } from "node:test";
import assert from "node:assert/strict";

import { evenTicks } from "../../frontend/heatmap.js";

test("evenTicks keeps one stride between ticks", () => {
  assert.deepEqual(evenTicks(0, 6, 5), [0, 2, 4]);
  assert.deepEqual(evenTicks(0, 6, 3), [0, 5]);
  assert.deepEqual(evenTicks(0, 6, 6), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(evenTicks(0, 1001, 11), [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
  assert.deepEqual(evenTicks(10, 16, 2), [10, 15]);
});

test("evenTicks never gives more than count ticks and starts at start", () => {
  for (const n of [1, 2, 7, 26, 101, 999, 1000]) {
    for (const count of [2, 3, 4, 7, 12]) {
      const ticks = evenTicks(3, 3 + n, count);
      assert.equal(ticks[0], 3);
      assert.ok(ticks.length <= Math.max(count, 1), `n=${n} count=${count}: ${ticks}`);
      assert.ok(ticks.every((t) => t < 3 + n));
      const gaps = new Set(ticks.slice(1).map((t, i) => t - ticks[i]));
      assert.ok(gaps.size <= 1, `n=${n} count=${count}: uneven ${ticks}`);
    }
  }
});

test("evenTicks of nothing is nothing", () => {
  assert.deepEqual(evenTicks(5, 5, 4), []);
});
