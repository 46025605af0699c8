// The sweep features' pure parts: sorting the runs table, file names of
// downloads, CSV text of a layer's heatmap and of a whole-network view, the
// downloaded figure's layout.
import assert from "node:assert/strict";
import { test } from "node:test";

import { csvField, csvText, figureLayout, heatmapRows, networkRows, safeFileName } from "../../frontend/download.js";
import { DEFAULT_TABLE_SORT, isTableSort, nextSort, sortRows } from "../../frontend/runstable.js";

const rows = [
  { run: "sweep/lr0.1_wd0_seed1", dead: 16, dead_share: 0.16, worst_layer: "dense_2", first_death_step: 10, zero_gradient_units: null },
  { run: "sweep/lr0.01_wd0_seed1", dead: 9, dead_share: 0.36, worst_layer: "dense_10", first_death_step: null, zero_gradient_units: 3 },
  { run: "sweep/lr0.001_wd0_seed10", dead: 4, dead_share: 0.16, worst_layer: "dense_1", first_death_step: 0, zero_gradient_units: 0 },
  { run: "sweep/lr0.001_wd0_seed2", dead: 0, dead_share: 0, worst_layer: null, first_death_step: null, zero_gradient_units: null },
];
const runs = (sorted) => sorted.map((r) => r.run);

test("runs sort in the one order of names by default", () => {
  assert.deepEqual(runs(sortRows(rows, DEFAULT_TABLE_SORT)), [
    "sweep/lr0.001_wd0_seed2",
    "sweep/lr0.001_wd0_seed10",
    "sweep/lr0.01_wd0_seed1",
    "sweep/lr0.1_wd0_seed1",
  ]);
  assert.deepEqual(runs(sortRows(rows, { key: "run", descending: true })), [
    "sweep/lr0.1_wd0_seed1",
    "sweep/lr0.01_wd0_seed1",
    "sweep/lr0.001_wd0_seed10",
    "sweep/lr0.001_wd0_seed2",
  ]);
});

test("numbers sort by value, ties by run name, in both directions", () => {
  assert.deepEqual(runs(sortRows(rows, { key: "dead_share", descending: true })), [
    "sweep/lr0.01_wd0_seed1",
    "sweep/lr0.001_wd0_seed10", // 0.16 tie: by name
    "sweep/lr0.1_wd0_seed1",
    "sweep/lr0.001_wd0_seed2",
  ]);
  // Not the order of dead units (seed1 of lr0.1 has the most, in a wider network).
  assert.deepEqual(runs(sortRows(rows, { key: "dead", descending: false })), [
    "sweep/lr0.001_wd0_seed2",
    "sweep/lr0.001_wd0_seed10",
    "sweep/lr0.01_wd0_seed1",
    "sweep/lr0.1_wd0_seed1",
  ]);
  assert.deepEqual(rows.map((r) => r.run), rows.map((r) => r.run), "the input is not reordered");
});

test("missing values go last whichever the direction", () => {
  for (const descending of [true, false]) {
    const sorted = sortRows(rows, { key: "first_death_step", descending });
    assert.deepEqual(sorted.slice(2).map((r) => r.first_death_step), [null, null]);
    assert.deepEqual(sorted.slice(0, 2).map((r) => r.first_death_step), descending ? [10, 0] : [0, 10]);
  }
  assert.equal(sortRows(rows, { key: "zero_gradient_units", descending: true })[0].zero_gradient_units, 3);
});

test("layer names sort naturally (dense_2 before dense_10)", () => {
  assert.deepEqual(sortRows(rows, { key: "worst_layer", descending: false }).map((r) => r.worst_layer), ["dense_1", "dense_2", "dense_10", null]);
});

test("a header click flips its column, a new numeric column starts worst first", () => {
  assert.deepEqual(nextSort(DEFAULT_TABLE_SORT, "run"), { key: "run", descending: true });
  assert.deepEqual(nextSort(DEFAULT_TABLE_SORT, "dead_share"), { key: "dead_share", descending: true });
  assert.deepEqual(nextSort({ key: "dead_share", descending: true }, "dead_share"), { key: "dead_share", descending: false });
  assert.deepEqual(nextSort({ key: "dead", descending: true }, "worst_layer"), { key: "worst_layer", descending: false });
  assert.equal(isTableSort({ key: "dead", descending: false }), true);
  assert.equal(isTableSort({ key: "nope", descending: false }), false);
  assert.equal(isTableSort({ key: "dead" }), false);
});

test("file names replace what file systems refuse by _", () => {
  assert.equal(safeFileName("sweep/lr0.01_wd0_seed3", "dense_1", "png"), "sweep_lr0.01_wd0_seed3_dense_1.png");
  assert.equal(safeFileName('a\\b:c*d?e"f<g>h|i', "x/y", "csv"), "a_b_c_d_e_f_g_h_i_x_y.csv");
  assert.equal(safeFileName("run\u0000\u001f\u007f", "tab\tnew\nline", "csv"), "run____tab_new_line.csv");
  assert.equal(safeFileName("run", "layer. ", "png"), "run_layer__.png");
  assert.equal(safeFileName("<img src=x onerror=alert(1)>", "dense", "png"), "_img src=x onerror=alert(1)__dense.png");
});

test("CSV fields are quoted only when needed, lines end in CRLF", () => {
  assert.equal(csvField("dense_1"), "dense_1");
  assert.equal(csvField('a,"b"'), '"a,""b"""');
  assert.equal(csvField("two\nlines"), '"two\nlines"');
  assert.equal(csvField(null), "");
  assert.equal(csvText([["layer", "0"], ["a,b", "0.5"]]), 'layer,0\r\n"a,b",0.5\r\n');
});

test("a layer's CSV is units x steps of the zero fraction, empty without a record", () => {
  const series = { units: 3, steps: [0, 10, 20], count: [8, 0, 4], zeros: Uint8Array.from([0, 2, 8, 0, 0, 0, 1, 4, 3]) };
  assert.deepEqual(heatmapRows(series), [
    ["unit \\ step", "0", "10", "20"],
    ["0", "0", "", "0.25"],
    ["1", "0.25", "", "1"],
    ["2", "1", "", "0.75"],
  ]);
  // Counts past 2^32 arrive as Float64Array and divide exactly as doubles.
  const big = { units: 1, steps: [5], count: [16_000_000_000], zeros: Float64Array.from([15_999_999_999]) };
  assert.equal(heatmapRows(big)[1][1], String(15_999_999_999 / 16_000_000_000));
});

test("a whole-network CSV is layers x the run's steps of the dead share", () => {
  const layers = [
    { tag: "conv1", units: 4, steps: [0, 10], count: [9, 9], dead: [0, 1] },
    { tag: "conv,2", units: 8, steps: [0, 20], count: [9, 0], dead: [2, 0] },
  ];
  const text = csvText(networkRows(layers, (layer) => layer.dead));
  assert.equal(text, 'layer \\ step,0,10,20\r\nconv1,0,0.25,\r\n"conv,2",0.25,,\r\n');
});

test("the figure puts the plot right of the left axis and under the title, the key under the axis", () => {
  const layout = figureLayout({ plotWidth: 400, plotHeight: 120, leftWidth: 56, keyWidth: 300 });
  assert.deepEqual(layout.plot, { x: 68, y: 36, width: 400, height: 120 });
  assert.equal(layout.width, 68 + 400 + 12);
  assert.equal(layout.bottom.y, 156);
  assert.ok(layout.key.y >= layout.bottom.y + 34);
  assert.ok(layout.height > layout.key.y);
  assert.equal(figureLayout({ plotWidth: 100, plotHeight: 50, leftWidth: 56, keyWidth: 600 }).width, 12 + 600 + 12);
});
