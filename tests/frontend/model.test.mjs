// Decoding of the binary heatmap format and layer ordering (no DOM, no network).
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, decodeBinary, layersInModelOrder, seriesFromHeader } from "../../frontend/model.js";

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
  const badType = encode(header("int64", 1, 1), Uint8Array, [0]);
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
