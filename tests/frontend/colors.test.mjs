// Colour scale of the heatmap: exact RGB at known positions and the fixed category colours.
import assert from "node:assert/strict";
import { test } from "node:test";

import { DEAD_RGB, NEARLY_DEAD_RGB, NO_DATA_RGB, cssRgb, scaleRgb } from "../../frontend/colors.js";
import { paint } from "../../frontend/heatmap.js";
import { GONE, METRIC_DORMANT, METRIC_ZEROS } from "../../frontend/stats.js";

test("scale hits its stops exactly and interpolates linearly between them", () => {
  assert.deepEqual(scaleRgb(0), [247, 251, 255]);
  assert.deepEqual(scaleRgb(0.5), [107, 174, 214]);
  assert.deepEqual(scaleRgb(1), [8, 48, 107]);
  // 0.25 is halfway between the first two stops: (247+107)/2, (251+174)/2 = 212.5 -> 213, (255+214)/2 = 234.5 -> 235.
  assert.deepEqual(scaleRgb(0.25), [177, 213, 235]);
  // 0.75: (107+8)/2 = 57.5 -> 58, (174+48)/2 = 111, (214+107)/2 = 160.5 -> 161.
  assert.deepEqual(scaleRgb(0.75), [58, 111, 161]);
});

test("scale clamps out-of-range and non-finite input", () => {
  assert.deepEqual(scaleRgb(-3), scaleRgb(0));
  assert.deepEqual(scaleRgb(7), scaleRgb(1));
  assert.deepEqual(scaleRgb(NaN), scaleRgb(0));
});

test("dead, nearly dead and no-data colours are distinct from every scale colour", () => {
  const scale = new Set();
  for (let i = 0; i <= 1000; i++) scale.add(cssRgb(scaleRgb(i / 1000)));
  for (const rgb of [DEAD_RGB, NEARLY_DEAD_RGB, NO_DATA_RGB]) assert.ok(!scale.has(cssRgb(rgb)), cssRgb(rgb));
  assert.equal(cssRgb(DEAD_RGB), "rgb(230, 81, 0)");
});

test("paint colours dead, nearly dead, no data and scale cells", () => {
  const grid = Float32Array.from([GONE, 0.995, NaN, 0.25, 0]);
  const rgba = paint(grid, METRIC_ZEROS, 0.99);
  const pixel = (i) => Array.from(rgba.slice(4 * i, 4 * i + 4));
  assert.deepEqual(pixel(0), [...DEAD_RGB, 255]);
  assert.deepEqual(pixel(1), [...NEARLY_DEAD_RGB, 255]);
  assert.deepEqual(pixel(2), [...NO_DATA_RGB, 255]);
  assert.deepEqual(pixel(3), [177, 213, 235, 255]);
  assert.deepEqual(pixel(4), [247, 251, 255, 255]);
  // The dormant metric has no "nearly dead" class: 0.995 is a plain scale position there.
  const dormant = paint(grid, METRIC_DORMANT, 0.99);
  assert.deepEqual(Array.from(dormant.slice(4, 8)), [...scaleRgb(0.995), 255]);
});

// The same value -> RGB pairs are checked in Python (tests/test_colors.py, core/colors.py).
test("golden colour vectors (shared with core/colors.py) match colors.js", async () => {
  const { readFileSync } = await import("node:fs");
  const { NONE_GONE_RGB, shareInto } = await import("../../frontend/colors.js");
  const golden = JSON.parse(readFileSync(new URL("../golden/color_vectors.json", import.meta.url), "utf-8"));
  assert.deepEqual(golden.dead_rgb, [...DEAD_RGB]);
  assert.deepEqual(golden.nearly_dead_rgb, [...NEARLY_DEAD_RGB]);
  assert.deepEqual(golden.no_data_rgb, [...NO_DATA_RGB]);
  assert.deepEqual(golden.none_gone_rgb, [...NONE_GONE_RGB]);
  assert.ok(golden.scale.length > 100 && golden.share.length > 100);
  for (const [x, rgb] of golden.scale) assert.deepEqual(scaleRgb(Number(x)), rgb, `scale ${x}`);
  for (const [x, rgb] of golden.share) {
    const out = [0, 0, 0];
    shareInto(Number(x), out, 0);
    assert.deepEqual(out, rgb, `share ${x}`);
  }
});
