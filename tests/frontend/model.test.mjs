// Decoding of the binary heatmap format and layer ordering (no DOM, no network).
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, dataVersion, decodeBinary, layerFilter, layersInModelOrder, seriesFromHeader } from "../../frontend/model.js";
import { analyze, METRIC_ZEROS } from "../../frontend/stats.js";

/** Builds a body the way the API contract describes it, independently of the decoder. */
function encode(header, TypedArray, values) {
  const json = Buffer.from(JSON.stringify(header), "utf-8");
  const offset = Math.ceil((4 + json.length) / 8) * 8;
  const body = Buffer.alloc(offset + values.length * TypedArray.BYTES_PER_ELEMENT);
  body.writeUInt32LE(json.length, 0);
  json.copy(body, 4);
  const data = Buffer.from(new TypedArray(values).buffer);
  data.copy(body, offset);
  return body.buffer.slice(body.byteOffset, body.byteOffset + body.length);
}

const header = (dtype, steps, units, extra = {}) => ({
  run: "r",
  tag: "dense",
  units,
  steps: Array.from({ length: steps }, (_, i) => 10 * i),
  count: Array.from({ length: steps }, () => 300),
  field: "zeros",
  dtype,
  shape: [steps, units],
  ...extra,
});

for (const [dtype, Type, values] of [
  ["uint8", Uint8Array, [0, 1, 255, 7, 8, 9]],
  ["uint16", Uint16Array, [0, 1, 65535, 300, 299, 2]],
  ["uint32", Uint32Array, [0, 1, 4294967295, 70000, 65536, 3]],
  ["float32", Float32Array, [0, 0.5, 1.25, -0, 3.5, 1e30]],
]) {
  test(`decodes ${dtype} arrays row-major`, () => {
    const { header: h, array } = decodeBinary(encode(header(dtype, 2, 3), Type, values));
    assert.ok(array instanceof Type);
    assert.deepEqual(Array.from(array), Array.from(new Type(values)));
    assert.deepEqual(h.shape, [2, 3]);
    assert.equal(h.tag, "dense");
  });
}

test("padding is counted from the start of the body for every header length", () => {
  for (let pad = 0; pad < 9; pad++) {
    const h = header("uint16", 1, 2, { description: "x".repeat(pad) });
    const { array } = decodeBinary(encode(h, Uint16Array, [17, 42]));
    assert.deepEqual(Array.from(array), [17, 42]);
  }
});

test("non-ASCII header text is decoded as UTF-8", () => {
  const h = header("uint8", 1, 1, { run: "läuft ✓" });
  assert.equal(decodeBinary(encode(h, Uint8Array, [1])).header.run, "läuft ✓");
});

test("truncated or inconsistent bodies raise ApiError naming the problem", () => {
  const good = encode(header("uint16", 2, 3), Uint16Array, [1, 2, 3, 4, 5, 6]);
  assert.throws(() => decodeBinary(good.slice(0, 2)), (e) => e instanceof ApiError && /too short/.test(e.message));
  assert.throws(() => decodeBinary(good.slice(0, good.byteLength - 2)), (e) => e instanceof ApiError && /expected/.test(e.message));
  assert.throws(() => decodeBinary(good.slice(0, 10)), (e) => e instanceof ApiError && /overruns/.test(e.message));
  const badType = encode(header("int8", 1, 1), Uint8Array, [0]);
  assert.throws(() => decodeBinary(badType), (e) => e instanceof ApiError && /dtype/.test(e.message));
});

test("series from header checks steps against the shape", () => {
  const h = header("uint16", 2, 3);
  const s = seriesFromHeader(h, new Uint16Array(6));
  assert.equal(s.units, 3);
  assert.deepEqual(s.steps, [0, 10]);
  assert.throws(() => seriesFromHeader({ ...h, steps: [0] }, new Uint16Array(6)), ApiError);
});

test("layers are in model order, unordered layers last in natural order", () => {
  const tags = {
    dense_10: { order: null },
    dense_9: { order: null },
    output: { order: 3 },
    conv: { order: 0 },
    dense_2: { order: 1 },
  };
  assert.deepEqual(layersInModelOrder(tags), ["conv", "dense_2", "output", "dense_9", "dense_10"]);
});

test("uint64 counts (>= 2^32) decode exactly into a Float64Array", () => {
  const big = 16_000_000_000; // an epoch of ImageNet through a stem convolution, per unit
  const values = [BigInt(big), BigInt(big - 1), 8_000_000_000n, 0n, BigInt(big), 1n];
  const h = header("uint64", 2, 3, { count: [big, big] });
  const { array } = decodeBinary(encode(h, BigUint64Array, values));
  assert.ok(array instanceof Float64Array);
  assert.deepEqual(Array.from(array), [big, big - 1, 8e9, 0, big, 1]);
  const largest = decodeBinary(encode(header("uint64", 1, 1), BigUint64Array, [2n ** 53n - 1n])).array;
  assert.equal(largest[0], 2 ** 53 - 1);
  // The dead verdict and the zero fraction stay exact at that size: one value short is not dead.
  const a = analyze(seriesFromHeader(h, array), { metric: METRIC_ZEROS, threshold: 0.99, tau: 0.025 });
  assert.deepEqual(Array.from(a.gone.slice(0, 3)), [1, 0, 0]);
  assert.equal(a.severity[2], 0.5);
  assert.deepEqual(Array.from(a.counts.nearlyDead), [2, 1]);
  assert.deepEqual(Array.from(a.counts.gone), [1, 1]);
});

test("the layer filter is a case-insensitive regular expression; an invalid one says why and hides nothing", () => {
  const f = layerFilter("conv[23]_block1");
  assert.equal(f.error, null);
  assert.deepEqual(["conv2_block1_out", "CONV3_BLOCK1_1", "conv4_block1_out", "conv2_block2"].filter(f.matches), ["conv2_block1_out", "CONV3_BLOCK1_1"]);
  assert.equal(layerFilter("").matches("anything"), true);
  const bad = layerFilter("conv(");
  assert.match(bad.error, /unterminated|group|Invalid/i);
  assert.equal(bad.matches("dense"), true);
});

test("a rewritten run with the same steps and units is a new data version (its wall time changed)", () => {
  const info = { units: 8, last_step: 40, last_wall_time: 1600000040.5, kind: "activations" };
  assert.equal(dataVersion(info), dataVersion({ ...info }));
  assert.notEqual(dataVersion(info), dataVersion({ ...info, last_wall_time: 1700000040.5 }));
  assert.notEqual(dataVersion(info), dataVersion({ ...info, last_step: 41 }));
  assert.notEqual(dataVersion(info), dataVersion({ ...info, units: 9 }));
  assert.equal(dataVersion(undefined), null);
});
