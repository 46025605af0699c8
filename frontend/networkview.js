/**
 * The whole-network view: for each selected run one canvas of layers (rows, in
 * model order) x steps (columns, shared by every run), coloured by the share of
 * the layer's units that are dead (or τ-dormant), with a tooltip and a click on a
 * row that opens that layer's panel. Drawn from the `overview` route alone.
 */

import { NONE_GONE_RGB, NO_DATA_RGB, SHARE_STOPS, cssRgb } from "./colors.js";
import { composeFigure, networkRows, safeFileName, saveCsv, savePng } from "./download.js";
import { el, percent, showTooltip } from "./dom.js";
import { drawAxis, evenTicks, putPixels } from "./heatmap.js";
import { cellRecord, goneCounts, paintShares, shareGrid, sharedSteps } from "./network.js";
import { METRIC_DORMANT } from "./stats.js";
import { downloadButtons } from "./views.js";

/** The layer name of a whole-network figure in its file names (`<run>_network.png`). */
export const NETWORK_LAYER_NAME = "network";

const LABEL_WIDTH = 150;
const MAX_GRID_HEIGHT = 300;
const MIN_ROW_HEIGHT = 4;
const MAX_ROW_HEIGHT = 16;
/** Rows closer than this (px) get a label only every few rows. */
const LABEL_SPACING = 12;
const LABEL_CHARS = 24;

function shortLabel(tag) {
  return tag.length > LABEL_CHARS ? `${tag.slice(0, LABEL_CHARS - 1)}…` : tag;
}

/** The pixel height of one layer's row when a run has `rows` layers. */
export function rowHeight(rows) {
  return Math.max(MIN_ROW_HEIGHT, Math.min(MAX_ROW_HEIGHT, Math.floor(MAX_GRID_HEIGHT / Math.max(1, rows))));
}

export class NetworkView {
  /**
   * `tooltip`: the app's shared tooltip element; `onPick(run, tag)`: called when
   * the user clicks a layer's row.
   */
  constructor(tooltip, onPick) {
    this.tooltip = tooltip;
    this.onPick = onPick;
    this.blocks = new Map(); // run -> {element, canvas, labels, axis, note, layers, run}
    this.legend = el("div", { class: "network-legend" });
    this.grid = el("div", { class: "network-runs" });
    this.element = el("section", { class: "network" }, this.legend, this.grid);
    this.listeners = new AbortController();
  }

  /**
   * Shows `entries` ([{run, overview | null, error | null}], the selected runs in
   * order) with the layers passing `matches(tag)`, coloured for `metric`; draws.
   */
  update(entries, metric, matches) {
    this.metric = metric;
    const runs = entries.map((e) => e.run);
    for (const [run, block] of this.blocks) {
      if (!runs.includes(run)) {
        block.element.remove();
        this.blocks.delete(run);
      }
    }
    const children = entries.map((entry) => {
      let block = this.blocks.get(entry.run);
      if (!block) {
        block = this.makeBlock(entry.run);
        this.blocks.set(entry.run, block);
      }
      block.entry = entry;
      block.layers = entry.overview ? entry.overview.layers.filter((layer) => matches(layer.tag)) : [];
      return block.element;
    });
    this.grid.replaceChildren(...children);
    this.steps = sharedSteps(entries.filter((e) => e.overview).map((e) => e.overview));
    this.legend.replaceChildren(...networkLegend(metric));
    this.draw();
  }

  makeBlock(run) {
    const canvas = el("canvas", { class: "network-canvas", dataset: { run } });
    const labels = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    labels.setAttribute("width", LABEL_WIDTH);
    labels.classList.add("network-labels");
    const axis = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    axis.classList.add("network-axis");
    const note = el("div", { class: "network-note" });
    const downloads = downloadButtons(`the whole-network view of ${run}`, () => this.downloadPng(block), () => this.downloadCsv(block));
    const block = {
      downloads,
      run,
      canvas,
      labels,
      axis,
      note,
      element: el(
        "div",
        { class: "network-run", dataset: { run } },
        el("div", { class: "network-run-head" }, el("span", { class: "network-run-title", text: run }), downloads),
        note,
        el("div", { class: "network-grid" }, labels, canvas, el("div"), axis),
      ),
    };
    const signal = this.listeners.signal;
    canvas.addEventListener("mousemove", (event) => this.showTooltip(block, event), { signal });
    canvas.addEventListener("mouseleave", () => (this.tooltip.hidden = true), { signal });
    canvas.addEventListener(
      "click",
      (event) => {
        const cell = this.cellAt(block, event);
        if (cell) this.onPick(run, block.layers[cell.row].tag);
      },
      { signal },
    );
    return block;
  }

  /** Redraws every run's canvas at its current width. */
  draw() {
    performance.mark("deadrelu:network:start");
    for (const block of this.blocks.values()) this.drawBlock(block);
    // "true" once every run's answer (or error) is in; "partial" while some are loading.
    this.element.dataset.drawn = [...this.blocks.values()].every((b) => b.entry.overview || b.entry.error) ? "true" : "partial";
    performance.mark("deadrelu:network:end");
    performance.measure("deadrelu:network", "deadrelu:network:start", "deadrelu:network:end");
  }

  drawBlock(block) {
    const { entry, layers, canvas } = block;
    const steps = this.steps;
    const showGrid = entry.overview && layers.length > 0 && steps.length > 0;
    // toggleAttribute, not .hidden: SVG elements have no `hidden` property.
    for (const part of [block.canvas, block.labels, block.axis]) part.toggleAttribute("hidden", !showGrid);
    block.note.textContent = entry.error
      ? `could not load the whole-network view: ${entry.error}`
      : !entry.overview
        ? "loading…"
        : layers.length === 0
          ? entry.overview.layers.length ? "no layer matches the filter" : "no layers"
          : "";
    block.note.classList.toggle("error", Boolean(entry.error));
    block.downloads.hidden = !showGrid;
    block.note.hidden = !block.note.textContent;
    if (!showGrid) {
      block.layout = null;
      return;
    }
    const width = Math.max(60, canvas.clientWidth || 400);
    const rows = layers.length;
    const cols = Math.max(1, Math.min(steps.length, width));
    const grid = shareGrid(layers, steps, cols, this.metric);
    putPixels(canvas, paintShares(grid), rows, cols);
    const height = rows * rowHeight(rows);
    canvas.style.height = `${height}px`;
    canvas.dataset.rows = rows;
    canvas.dataset.cols = cols;
    block.layout = { rows, cols, height, width };

    const every = Math.ceil(LABEL_SPACING / rowHeight(rows));
    const labelTicks = layers
      .map((layer, row) => ({ at: ((row + 0.5) / rows) * height, label: shortLabel(layer.tag), row }))
      .filter(({ row }) => row % every === 0);
    drawAxis(block.labels, "left", height, labelTicks, "");
    const perColumn = steps.length / cols;
    const stepTicks = evenTicks(0, steps.length, Math.max(2, Math.floor(width / 90))).map((i) => ({
      at: ((i + 0.5) / steps.length) * width,
      label: String(steps[i]),
    }));
    drawAxis(block.axis, "bottom", width, stepTicks, perColumn > 1 ? `step (each column: worst of ${perColumn.toFixed(1)} steps)` : "step");
  }

  /** {row, col} of the grid cell under a pointer event, or null when nothing is drawn. */
  cellAt(block, event) {
    if (!block.layout) return null;
    const rect = block.canvas.getBoundingClientRect();
    const { rows, cols } = block.layout;
    return {
      row: Math.min(rows - 1, Math.max(0, Math.floor(((event.clientY - rect.top) / rect.height) * rows))),
      col: Math.min(cols - 1, Math.max(0, Math.floor(((event.clientX - rect.left) / rect.width) * cols))),
    };
  }

  showTooltip(block, event) {
    const cell = this.cellAt(block, event);
    if (!cell) return;
    const layer = block.layers[cell.row];
    const record = cellRecord(layer, this.steps, block.layout.cols, cell.col, this.metric);
    const word = this.metric === METRIC_DORMANT ? "dormant" : "dead";
    const lines = [
      ["run", block.run],
      ["layer", layer.tag],
      ["step", record ? String(record.step) : "no record"],
      [`${word} / units`, record ? `${record.gone} / ${record.units} (${percent(record.gone, record.units)})` : "–"],
      ["click", "open this layer's panel"],
    ];
    showTooltip(this.tooltip, lines, event);
  }

  /** The run's view as drawn, with its layer labels, step axis, colour key and title (download.composeFigure). */
  figure(block) {
    const word = this.metric === METRIC_DORMANT ? "τ-dormant" : "dead";
    return composeFigure({
      title: `${block.run} · whole network (share of units ${word})`,
      image: block.canvas,
      plotWidth: block.canvas.clientWidth || block.layout.width,
      plotHeight: block.layout.height,
      leftAxis: block.labels,
      leftWidth: LABEL_WIDTH,
      bottomAxis: block.axis,
      key: { stops: SHARE_STOPS, ends: [">0", "all units"], caption: `share of the layer's units ${word}`, swatches: [[NONE_GONE_RGB, "none"], [NO_DATA_RGB, "no record"]] },
    });
  }

  downloadPng(block) {
    if (!block.layout) return null;
    return savePng(this.figure(block), safeFileName(block.run, NETWORK_LAYER_NAME, "png"));
  }

  downloadCsv(block) {
    if (!block.layout) return;
    saveCsv(networkRows(block.layers, (layer) => goneCounts(layer, this.metric)), safeFileName(block.run, NETWORK_LAYER_NAME, "csv"));
  }

  /** Removes the view's listeners (the app is done with it). */
  dispose() {
    this.listeners.abort();
    this.blocks.clear();
  }
}

/** The view's title and colour legend for `metric`. */
function networkLegend(metric) {
  const word = metric === METRIC_DORMANT ? "τ-dormant" : "dead";
  const ramp = `linear-gradient(to right, ${SHARE_STOPS.map(([p, c]) => `${cssRgb(c)} ${p * 100}%`).join(", ")})`;
  return [
    el("span", { class: "network-title", text: `Whole network: share of each layer's units ${word} per step` }),
    el(
      "span",
      { class: "legend-scale" },
      el("span", { class: "swatch", style: { background: cssRgb(NONE_GONE_RGB) } }),
      el("span", { class: "legend-end", text: "none" }),
      el("span", { class: "gradient", style: { background: ramp } }),
      el("span", { class: "legend-end", text: "all units" }),
    ),
    el("span", { class: "legend-item" }, el("span", { class: "swatch", style: { background: cssRgb(NO_DATA_RGB) } }), "no record"),
    el("span", { class: "legend-hint", text: "Click a row to open that layer." }),
  ];
}
