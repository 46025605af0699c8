/**
 * One layer's panel: heads-up numbers, the heatmap (with aggregation of large
 * layers, drag-to-zoom and a hover tooltip), its axes, the line chart of dead
 * units per step and, when the layer has a gradient series, a second heatmap of
 * its gradients with the same rows and columns. Units a remedy recycled (ReDo)
 * get a marker on the heatmap, a series in the chart and a tooltip line.
 */

import { chartLines, drawChart } from "./chart.js";
import { DEAD_RGB, NEARLY_DEAD_RGB, NO_DATA_RGB, RECYCLED_RGB, SCALE_STOPS } from "./colors.js";
import { composeFigure, heatmapRows, safeFileName, saveCsv, savePng } from "./download.js";
import { el, percent, showTooltip } from "./dom.js";
import { GRAD_MAGNITUDE, alignSteps, gradientSeverity, logRange, meanAbs } from "./gradients.js";
import { drawAxis, drawMarkers, evenTicks, niceTicks, paint, putPixels } from "./heatmap.js";
import { lastRecycling, markerGrid, markerPlacements, recycledInCell, recycledIndex, recycledSummary } from "./recycled.js";
import {
  METRIC_DORMANT,
  METRIC_ZEROS,
  SORT_INDEX,
  aggregate,
  analyze,
  deadCounts,
  binRange,
  unitOrder,
  worstCell,
} from "./stats.js";
import { downloadButtons, gradientLegend } from "./views.js";

const Y_AXIS_WIDTH = 56;
const MIN_PLOT_HEIGHT = 96;
const MAX_PLOT_HEIGHT = 320;
const PIXELS_PER_UNIT = 4;
/** Heights (px) of a drawn panel's parts besides its heatmaps, for its placeholder. */
const GRADIENT_HEAD_HEIGHT = 44;
/** x axis, chart and its legend (two lines in a narrow panel). */
const AXIS_AND_CHART_HEIGHT = 34 + 52 + 32;

/** The heatmap's height in pixels for `units` rows of units. */
function plotHeight(units) {
  return Math.max(MIN_PLOT_HEIGHT, Math.min(MAX_PLOT_HEIGHT, units * PIXELS_PER_UNIT));
}

/** An empty SVG element of the panel grid (class `name`, fixed width if given). */
function svgBox(name, width = null) {
  const box = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  box.classList.add(name);
  if (width != null) box.setAttribute("width", width);
  return box;
}

/**
 * Shows or hides a part of the panel grid. Through the attribute: SVG elements
 * have no `hidden` property, and setting one silently left an empty 300 x 150
 * SVG box in the grid, which pushed every later part one cell along.
 */
function setShown(node, shown) {
  node.toggleAttribute("hidden", !shown);
}
/** Layers with more steps than this get a panel as wide as the page. */
const WIDE_PANEL_STEPS = 150;

/** Label of the chosen metric's "gone" state, e.g. in "12 dead". */
export function goneLabel(metric) {
  return metric === METRIC_DORMANT ? "dormant" : "dead";
}

/** The settings an analysis depends on (sorting and zoom only change the drawing). */
function analysisKey(settings) {
  return settings.metric === METRIC_DORMANT ? `dormant|${settings.tau}` : `zeros|${settings.threshold}`;
}

export class LayerPanel {
  /**
   * A panel starts as a light placeholder (title and an empty box of about its
   * drawn size, so the page does not jump); mount() builds its heatmaps when it
   * scrolls into view, release() returns it to a placeholder and drops its data.
   * `tooltip` is the app's shared tooltip element.
   */
  constructor(run, tag, tooltip) {
    this.run = run;
    this.tag = tag;
    this.tooltip = tooltip;
    this.series = null;
    this.analysis = null;
    this.analysisKey = null;
    this.view = null;
    this.layout = null;
    this.gradientTag = null;
    this.gradient = null; // see setGradient
    this.recycled = null; // the overview's [[step, [unit, ...]], ...] of this layer, see setRecycled
    this.recycledIndex = null; // recycled placed on this.series' steps (recycled.recycledIndex)
    this.mounted = false;
    this.listeners = null;

    this.title = el("span", { class: "layer-name", text: tag });
    this.summary = el("div", { class: "layer-summary", text: "drawn when scrolled into view" });
    this.resetButton = el("button", { class: "link-button", text: "reset zoom", hidden: "", on: { click: () => this.resetZoom() } });
    this.note = el("div", { class: "panel-note", hidden: "" });
    this.placeholder = el("div", { class: "panel-placeholder" });
    this.downloads = downloadButtons(`${run} ${tag}`, () => this.downloadPng(), () => this.downloadCsv());
    this.downloads.hidden = true;
    this.element = el(
      "section",
      { class: "panel", dataset: { run, tag } },
      el("div", { class: "panel-head" }, this.title, this.resetButton, this.downloads),
      this.summary,
      this.note,
      this.placeholder,
    );
  }

  /** Sizes the placeholder like the drawn panel of a layer of `units` units (with a gradient heatmap or not). */
  estimateSize(units) {
    this.estimatedUnits = units;
    const heatmap = plotHeight(units);
    const height = heatmap + (this.gradientTag ? heatmap + GRADIENT_HEAD_HEIGHT : 0) + AXIS_AND_CHART_HEIGHT;
    this.placeholder.style.height = `${height}px`;
  }

  /** Builds the heatmaps, axes and chart (once; again after release()). */
  mount() {
    if (this.mounted) return;
    this.mounted = true;
    const { run, tag } = this;
    this.listeners = new AbortController();
    this.canvas = el("canvas", { class: "heatmap", dataset: { run, tag } });
    // Until drawn, as tall as it will be (a canvas' default 2:1 box would make the page jump).
    if (this.estimatedUnits != null) this.canvas.style.height = `${plotHeight(this.estimatedUnits)}px`;
    this.brush = el("div", { class: "brush", hidden: "" });
    // Markers on a canvas of their own at screen resolution: in the heatmap's
    // bitmap (one pixel per cell) they would be as small or as large as a cell.
    this.markers = el("canvas", { class: "recycled-markers", dataset: { run, tag } });
    this.plot = el("div", { class: "plot" }, this.canvas, this.markers, this.brush);
    this.yAxis = svgBox("y-axis", Y_AXIS_WIDTH);
    this.xAxis = svgBox("x-axis");
    this.chart = svgBox("chart");
    this.chartLegend = el("div", { class: "chart-legend" });

    this.gradParts = null; // built by showGradientParts when the layer has a gradient series
    this.grid = el("div", { class: "panel-grid" }, this.yAxis, this.plot, el("div"), this.xAxis, el("div"), this.chart, el("div"), this.chartLegend);
    this.placeholder.replaceWith(this.grid);
    this.installPointer(this.canvas, this.brush, () => true);
    this.showGradientParts();
  }

  /**
   * Shows the gradient heatmap, its caption, legend and axis (built the first
   * time: most layers have no gradient series, and their panels no second canvas)
   * when the layer has a gradient tag; hides them otherwise.
   */
  showGradientParts() {
    const shown = this.gradientTag != null;
    if (!this.gradParts && shown) {
      this.gradCanvas = el("canvas", { class: "grad-heatmap", dataset: { run: this.run, tag: this.gradientTag } });
      this.gradCanvas.style.height = this.canvas.style.height;
      this.gradYAxis = svgBox("y-axis", Y_AXIS_WIDTH);
      this.gradCaption = el("div", { class: "grad-caption", text: "gradients: loading…" });
      this.gradLegend = el("div", { class: "grad-legend" });
      const gradBrush = el("div", { class: "brush", hidden: "" });
      this.gradParts = [el("div"), el("div", { class: "grad-head" }, this.gradCaption, this.gradLegend), this.gradYAxis, el("div", { class: "plot" }, this.gradCanvas, gradBrush)];
      this.plot.after(...this.gradParts);
      this.installPointer(this.gradCanvas, gradBrush, () => Boolean(this.gradient?.severity));
    }
    if (!this.gradParts) return;
    this.gradCanvas.dataset.tag = this.gradientTag || "";
    this.gradCaption.textContent = "gradients: loading…";
    this.gradLegend.replaceChildren();
    for (const part of this.gradParts) setShown(part, shown);
  }

  /**
   * Drops the panel's data, drawing and listeners, leaving a placeholder of the
   * same height (a panel far off screen, or one whose run was deselected).
   */
  release() {
    if (this.mounted) {
      this.placeholder.style.height = `${this.grid.offsetHeight}px`;
      this.grid.replaceWith(this.placeholder);
      this.listeners.abort();
      this.listeners = null;
      for (const name of ["canvas", "markers", "brush", "plot", "yAxis", "xAxis", "chart", "chartLegend", "gradCanvas", "gradYAxis", "gradCaption", "gradLegend", "gradParts", "grid"]) this[name] = null;
      this.mounted = false;
    }
    this.series = this.analysis = this.analysisKey = this.gradient = this.order = this.layout = this.recycledIndex = null;
    this.loadedVersion = this.gradientVersion = null;
    this.summary.textContent = "drawn when scrolled into view";
    this.downloads.hidden = true;
    this.note.hidden = true;
    delete this.element.dataset.drawn;
    delete this.element.dataset.details;
    delete this.element.dataset.gradientsDrawn;
  }

  /** Releases the panel and takes it off the page for good. */
  dispose() {
    this.release();
    this.element.remove();
  }

  /** Cells held in memory (steps x units of the layer and its gradients), for the app's budget. */
  cells() {
    const own = this.series ? this.series.steps.length * this.series.units : 0;
    const gradient = this.gradient ? this.gradient.series.steps.length * this.gradient.series.units : 0;
    return own + gradient;
  }

  /** Sets the tag of the layer's gradient series (null: none), showing or hiding the gradient view. */
  setGradientTag(gradientTag) {
    if (gradientTag === this.gradientTag) return;
    this.gradientTag = gradientTag;
    this.gradient = null;
    this.gradientVersion = null;
    if (this.mounted) this.showGradientParts();
  }

  /** Sets the gradient series (zeros, absSum and nonfinite all loaded) and its listing `info`. */
  setGradient(series, info) {
    if (series.units !== this.series?.units) {
      this.gradCaption.textContent = `gradients: ${series.units} units, but the layer has ${this.series?.units}; not shown`;
      this.gradient = null;
      return;
    }
    const means = meanAbs(series);
    // severities: per gradient colouring, the per-cell values (gradientSeverity) aligned to this.series.
    this.gradient = { info, series, means, range: logRange(means), zeroCounts: deadCounts(series), align: null, severities: null, severity: null };
  }

  /**
   * Sets the units recycled in this layer (the overview's `recycled` list of
   * the layer, or null when it has none). Returns whether it changed.
   */
  setRecycled(recycled) {
    const list = recycled && recycled.length ? recycled : null;
    if (JSON.stringify(list) === JSON.stringify(this.recycled)) return false;
    this.recycled = list;
    this.recycledIndex = null;
    return true;
  }

  /** The recycled units placed on the current series' steps, or null when none were recycled. */
  recycledOnSteps() {
    if (!this.recycled || !this.series) return null;
    if (!this.recycledIndex) this.recycledIndex = recycledIndex(this.recycled, this.series.steps, this.series.units);
    return this.recycledIndex;
  }

  /** Sets new data; keeps the zoom where it still makes sense. */
  setSeries(series) {
    const old = this.series;
    this.series = series;
    this.analysis = null;
    this.recycledIndex = null;
    if (this.gradient) this.gradient.align = this.gradient.severity = this.gradient.severities = null;
    if (this.view && old) {
      const v = this.view;
      const steps = series.steps.length;
      const followEnd = v.stepEnd === old.steps.length;
      this.view = {
        unitStart: Math.min(v.unitStart, series.units - 1),
        unitEnd: Math.min(v.unitEnd, series.units),
        stepStart: Math.min(v.stepStart, Math.max(0, steps - 1)),
        stepEnd: followEnd ? steps : Math.min(v.stepEnd, steps),
      };
      if (old.units !== series.units) this.view = null;
    }
    // Long series get a full row; short ones sit side by side so runs compare at a glance.
    this.element.classList.toggle("wide", series.steps.length > WIDE_PANEL_STEPS);
    const notes = [];
    if (series.skipped.length) {
      notes.push(`${series.skipped.length} record(s) could not be read and are not shown (e.g. step ${series.skipped[0].step}: ${series.skipped[0].reason}).`);
    }
    this.note.textContent = notes.join(" ");
    this.note.hidden = notes.length === 0;
  }

  fullView() {
    return { unitStart: 0, unitEnd: this.series.units, stepStart: 0, stepEnd: this.series.steps.length };
  }

  resetZoom() {
    this.view = null;
    this.draw(this.settings);
  }

  /** Recomputes what changed and redraws; `settings` are the app's controls. */
  draw(settings) {
    this.settings = settings;
    const series = this.series;
    if (!series || !this.mounted) return;
    if (settings.metric === METRIC_DORMANT && !series.absSum) {
      this.summary.textContent = "loading mean |activation| for the dormant score…";
      this.canvas.classList.add("stale");
      return;
    }
    this.canvas.classList.remove("stale");
    performance.mark("deadrelu:draw:start");
    const key = analysisKey(settings);
    if (this.analysisKey !== key || !this.analysis) {
      this.analysis = analyze(series, settings, this.analysis);
      this.analysisKey = key;
    }
    const a = this.analysis;
    this.order = unitOrder(settings.sort, {
      units: series.units,
      steps: series.steps.length,
      deathIdx: a.deathIdx,
      severity: a.severity,
    });
    const view = this.view || this.fullView();
    const nUnits = view.unitEnd - view.unitStart;
    const nSteps = view.stepEnd - view.stepStart;
    const width = Math.max(120, (this.plot.clientWidth || 640));
    const height = plotHeight(nUnits);
    const rows = Math.max(1, Math.min(nUnits, height));
    const cols = Math.max(1, Math.min(nSteps, width));
    const grid = nUnits > 0 && nSteps > 0 ? aggregate(a.severity, series.units, this.order, view, rows, cols) : new Float32Array(rows * cols).fill(NaN);
    putPixels(this.canvas, paint(grid, settings.metric, settings.threshold), rows, cols);
    this.canvas.style.height = `${height}px`;
    this.layout = { view, rows, cols, width, height };
    this.drawMarkers();
    performance.mark("deadrelu:draw:end");
    performance.measure(`deadrelu:draw ${this.run}/${this.tag}`, "deadrelu:draw:start", "deadrelu:draw:end");

    this.drawAxes(settings);
    this.drawSummary(settings);
    this.drawChart(settings);
    this.drawGradient(settings);
    this.resetButton.hidden = this.view == null;
    this.downloads.hidden = false;
    this.element.dataset.drawn = "true";
    this.canvas.dataset.rows = rows;
    this.canvas.dataset.cols = cols;
  }

  /** Marks the cells of recycled (unit, step)s on the overlay canvas (cleared when there are none). */
  drawMarkers() {
    const { view, rows, cols, height } = this.layout;
    const index = this.recycledOnSteps();
    const width = this.canvas.clientWidth || this.layout.width;
    const grid = index ? markerGrid(index, this.order, view, rows, cols) : new Uint8Array(0);
    const placements = markerPlacements(grid, rows, cols, width, height);
    drawMarkers(this.markers, placements, width, height, RECYCLED_RGB);
    this.markers.dataset.marks = String(placements.length);
  }

  /**
   * Draws the gradient heatmap with the activation heatmap's unit order, view and
   * grid size (so its rows and columns line up), coloured by settings.gradient.
   */
  drawGradient(settings) {
    const g = this.gradient;
    if (!g || !this.layout || !this.order || !this.mounted) return;
    performance.mark("deadrelu:gradients:start");
    this.gradCaption.classList.remove("error");
    const series = this.series;
    if (!g.align) g.align = alignSteps(series.steps, g.series.steps);
    const mode = settings.gradient;
    // Both colourings stay computed, so switching back and forth only re-aggregates.
    if (!g.severities) g.severities = {};
    if (!g.severities[mode]) g.severities[mode] = gradientSeverity(g.series, g.align, mode, g.means, g.range);
    g.severity = g.severities[mode];
    const { view, rows, cols, height } = this.layout;
    const grid = view.unitEnd > view.unitStart && view.stepEnd > view.stepStart ? aggregate(g.severity, series.units, this.order, view, rows, cols) : new Float32Array(rows * cols).fill(NaN);
    // Only the zero share marks "nearly" cells, like the zero fraction of activations.
    putPixels(this.gradCanvas, paint(grid, mode === GRAD_MAGNITUDE ? GRAD_MAGNITUDE : METRIC_ZEROS, settings.threshold), rows, cols);
    this.gradCanvas.style.height = `${height}px`;
    this.gradCanvas.dataset.rows = rows;
    this.gradCanvas.dataset.cols = cols;
    this.gradYAxis.replaceChildren(...this.yAxis.cloneNode(true).childNodes);
    this.gradYAxis.setAttribute("height", height);
    const last = g.series.steps.length - 1;
    this.gradCaption.textContent =
      last >= 0 ? `gradients: ${g.zeroCounts[last]}/${g.series.units} units exactly 0 at step ${g.series.steps[last]}` : "gradients: no records";
    this.gradCaption.title =
      "∂loss/∂pre-activation of each unit on the probe inputs" +
      (last >= 0 ? `; at step ${g.series.steps[last]}, ${g.zeroCounts[last]} of ${g.series.units} units got a gradient of exactly 0 on every probe input` : "");
    this.gradLegend.replaceChildren(gradientLegend(mode, g.range, settings.threshold));
    this.element.dataset.gradientsDrawn = mode;
    performance.mark("deadrelu:gradients:end");
    performance.measure(`deadrelu:gradients ${this.run}/${this.tag}`, "deadrelu:gradients:start", "deadrelu:gradients:end");
  }

  drawAxes(settings) {
    const { view, rows, cols, width, height } = this.layout;
    const steps = this.series.steps;
    const nSteps = view.stepEnd - view.stepStart;
    const xTicks = evenTicks(view.stepStart, view.stepEnd, Math.max(2, Math.floor(width / 90))).map((s) => ({
      at: ((s - view.stepStart + 0.5) / nSteps) * width,
      label: String(steps[s]),
    }));
    const perColumn = nSteps / cols;
    const xTitle = perColumn > 1 ? `step (each column: worst of ${perColumn.toFixed(1)} steps)` : "step";
    drawAxis(this.xAxis, "bottom", width, xTicks, xTitle);

    const nUnits = view.unitEnd - view.unitStart;
    const byIndex = settings.sort === SORT_INDEX;
    const yTicks = niceTicks(view.unitStart, view.unitEnd, Math.max(2, Math.floor(height / 28))).map((p) => ({
      at: ((p - view.unitStart + 0.5) / nUnits) * height,
      label: String(p),
    }));
    const perRow = nUnits / rows;
    const what = byIndex ? "unit" : `rank (${settings.sort === "death" ? "by death step" : "by latest value"})`;
    const yTitle = perRow > 1 ? `${what}, ${perRow.toFixed(1)}/row` : what;
    drawAxis(this.yAxis, "left", height, yTicks, yTitle);
  }

  drawSummary(settings) {
    const s = this.series;
    const last = s.steps.length - 1;
    const word = goneLabel(settings.metric);
    const c = this.analysis.counts;
    const parts = [`${s.units} unit${s.units === 1 ? "" : "s"}`, `${s.steps.length} step${s.steps.length === 1 ? "" : "s"}`];
    if (last >= 0) {
      parts.push(`${c.gone[last]} ${word} at step ${s.steps[last]} (${percent(c.gone[last], s.units)})`);
      // Beside the dead count: a narrow panel cuts the end of this line off.
      const recycled = recycledSummary(this.recycledOnSteps());
      if (recycled) parts.push(recycled);
      if (c.nearlyDead) parts.push(`${c.nearlyDead[last]} nearly dead (≥ ${settings.threshold})`);
      const revived = this.analysis.revived.reduce((n, r) => n + r, 0);
      if (revived) parts.push(`${revived} revived`);
    }
    this.summary.textContent = parts.join(" · ");
    this.summary.title = this.summary.textContent;
  }

  drawChart(settings) {
    const { view, width } = this.layout;
    const lines = chartLines(this.analysis.counts, goneLabel(settings.metric), this.recycledOnSteps()?.perStep ?? null);
    drawChart(this.chart, {
      width,
      lines,
      units: this.series.units,
      stepStart: view.stepStart,
      stepEnd: view.stepEnd,
      scale: settings.chartScale,
    });
    this.chartLegend.replaceChildren(
      el("span", { class: "chart-title", text: settings.chartScale === "percent" ? "% of units per step:" : "units per step:" }),
      ...lines.map((line) =>
        el("span", { class: "legend-item" }, el("span", { class: line.dashed ? "swatch-line dashed" : "swatch-line", style: { borderColor: line.color } }), line.label),
      ),
    );
  }

  /**
   * The heatmap as drawn (with its zoom), its axes, colour key and the run and
   * layer as title, composed at devicePixelRatio: see download.composeFigure.
   */
  figure() {
    const dormant = this.settings.metric === METRIC_DORMANT;
    const recycled = this.recycledOnSteps() ? [[RECYCLED_RGB, "recycled (▲)"]] : [];
    const key = dormant
      ? { stops: SCALE_STOPS, ends: ["high", "0"], caption: "τ-dormant score (mean |activation| / layer mean)", swatches: [[DEAD_RGB, `dormant (score ≤ ${this.settings.tau})`], [NO_DATA_RGB, "no data"], ...recycled] }
      : { stops: SCALE_STOPS, ends: ["0", "1"], caption: "zero fraction", swatches: [[DEAD_RGB, "dead"], [NEARLY_DEAD_RGB, `nearly dead (≥ ${this.settings.threshold})`], [NO_DATA_RGB, "no data"], ...recycled] };
    return composeFigure({
      title: `${this.run} · ${this.tag}`,
      image: this.canvas,
      overlay: this.recycledOnSteps() ? this.markers : null,
      plotWidth: this.canvas.clientWidth || this.layout.width,
      plotHeight: this.layout.height,
      leftAxis: this.yAxis,
      leftWidth: Y_AXIS_WIDTH,
      bottomAxis: this.xAxis,
      key,
    });
  }

  downloadPng() {
    if (!this.layout || !this.mounted) return null;
    return savePng(this.figure(), safeFileName(this.run, this.tag, "png"));
  }

  downloadCsv() {
    if (!this.series) return;
    saveCsv(heatmapRows(this.series), safeFileName(this.run, this.tag, "csv"));
  }

  /** The (row, col) of the canvas grid under a pointer event (both heatmaps share the grid). */
  cellAt(event, canvas = this.canvas) {
    const rect = canvas.getBoundingClientRect();
    const { rows, cols } = this.layout;
    const col = Math.min(cols - 1, Math.max(0, Math.floor(((event.clientX - rect.left) / rect.width) * cols)));
    const row = Math.min(rows - 1, Math.max(0, Math.floor(((event.clientY - rect.top) / rect.height) * rows)));
    return { row, col };
  }

  /**
   * Hover tooltip, drag-to-zoom and double-click reset on one heatmap; both
   * heatmaps share the grid, so a zoom on either zooms both. `ready()` says
   * whether that heatmap has something drawn to describe.
   */
  installPointer(canvas, brush, ready) {
    let dragStart = null;
    // One signal for all, so release() removes them, the window's mouseup included.
    const options = { signal: this.listeners.signal };
    canvas.addEventListener("mousemove", (event) => {
      if (!this.layout || !ready()) return;
      if (dragStart) this.showBrush(brush, dragStart, event);
      this.showTooltip(event, canvas);
    }, options);
    canvas.addEventListener("mouseleave", () => {
      this.tooltip.hidden = true;
    }, options);
    canvas.addEventListener("mousedown", (event) => {
      if (!this.layout || !ready()) return;
      event.preventDefault();
      dragStart = { x: event.clientX, y: event.clientY, cell: this.cellAt(event, canvas) };
    }, options);
    window.addEventListener("mouseup", (event) => {
      if (!dragStart) return;
      const start = dragStart;
      dragStart = null;
      brush.hidden = true;
      if (Math.abs(event.clientX - start.x) + Math.abs(event.clientY - start.y) < 6) return;
      this.zoomTo(start.cell, this.cellAt(event, canvas));
    }, options);
    canvas.addEventListener("dblclick", () => this.resetZoom(), options);
  }

  /** Shows the zoom rectangle `brush` (a child of the heatmap's plot) from `start` to the pointer. */
  showBrush(brush, start, event) {
    const rect = brush.parentElement.getBoundingClientRect();
    const x0 = Math.min(start.x, event.clientX) - rect.left;
    const y0 = Math.min(start.y, event.clientY) - rect.top;
    Object.assign(brush.style, {
      left: `${x0}px`,
      top: `${y0}px`,
      width: `${Math.abs(event.clientX - start.x)}px`,
      height: `${Math.abs(event.clientY - start.y)}px`,
    });
    brush.hidden = false;
  }

  /** Zooms into the units and steps covered by the grid cells a..b (inclusive). */
  zoomTo(a, b) {
    const { view, rows, cols } = this.layout;
    const nUnits = view.unitEnd - view.unitStart;
    const nSteps = view.stepEnd - view.stepStart;
    const [r0, r1] = [Math.min(a.row, b.row), Math.max(a.row, b.row)];
    const [c0, c1] = [Math.min(a.col, b.col), Math.max(a.col, b.col)];
    this.view = {
      unitStart: view.unitStart + binRange(nUnits, rows, r0)[0],
      unitEnd: view.unitStart + binRange(nUnits, rows, r1)[1],
      stepStart: view.stepStart + binRange(nSteps, cols, c0)[0],
      stepEnd: view.stepStart + binRange(nSteps, cols, c1)[1],
    };
    this.draw(this.settings);
  }

  /**
   * The numbers behind the cell under the pointer, as lines of [label, value].
   * `severity` is what the hovered heatmap aggregated (its worst cell is described).
   */
  describeCell(row, col, severity = this.analysis.severity) {
    const s = this.series;
    const { view, rows, cols } = this.layout;
    const { unit, stepIndex } = worstCell(severity, s.units, this.order, view, rows, cols, row, col);
    const i = stepIndex * s.units + unit;
    const count = s.count[stepIndex];
    const zeros = s.zeros[i];
    const lines = [
      ["run", this.run],
      ["layer", this.tag],
      ["unit", String(unit)],
      ["step", String(s.steps[stepIndex])],
      ["zeros / count", `${zeros} / ${count}`],
      ["zero fraction", count > 0 ? (zeros / count).toFixed(4) : "no data"],
    ];
    if (s.absSum) {
      const finite = count - s.nonfinite[i];
      lines.push(["mean |activation|", finite > 0 ? formatNumber(s.absSum[i] / finite) : "no finite value"]);
      if (s.nonfinite[i] > 0) lines.push(["NaN/Inf values", String(s.nonfinite[i])]);
    } else {
      lines.push(["mean |activation|", "loading…"]);
    }
    if (this.settings.metric === METRIC_DORMANT) {
      const score = this.analysis.scores[i];
      lines.push(["dormant score", Number.isNaN(score) ? "no data" : formatNumber(score)]);
    }
    const word = goneLabel(this.settings.metric);
    const death = this.analysis.deathIdx[unit];
    lines.push([`${word} since step`, death >= 0 ? String(s.steps[death]) : `not ${word} at the latest step`]);
    lines.push(["revived", this.analysis.revived[unit] ? `yes (was ${word}, is not at the latest step)` : "no"]);
    lines.push(...this.describeRecycling(unit, stepIndex, i, row, col));
    if (this.gradientTag) lines.push(...this.describeGradient(unit, stepIndex));
    const binUnits = (view.unitEnd - view.unitStart) / rows;
    const binSteps = (view.stepEnd - view.stepStart) / cols;
    if (binUnits > 1 || binSteps > 1) lines.push(["cell", "aggregated: showing its worst unit/step (drag to zoom)"]);
    return lines;
  }

  /**
   * Tooltip lines about recycling: when `unit` was last recycled by step index
   * `stepIndex` (and whether it is dead again at this step: cell `i`), and in an
   * aggregated cell, the recycled units the cell holds.
   */
  describeRecycling(unit, stepIndex, i, row, col) {
    const index = this.recycledOnSteps();
    if (!index) return [];
    const lines = [];
    const step = lastRecycling(index, unit, stepIndex);
    if (step != null) {
      const word = goneLabel(this.settings.metric);
      const at = this.series.steps[stepIndex];
      const again = at > step && this.analysis.gone[i] ? ` — ${word} again at step ${at}` : "";
      lines.push(["recycled", `recycled at step ${step}${again}`]);
    }
    const { view, rows, cols } = this.layout;
    if ((view.unitEnd - view.unitStart) / rows > 1 || (view.stepEnd - view.stepStart) / cols > 1) {
      const inCell = recycledInCell(index, this.order, view, rows, cols, row, col);
      if (inCell.length) {
        const names = inCell.slice(0, 5).map((r) => `${r.unit} (step ${r.step})`).join(", ");
        lines.push(["recycled in this cell", inCell.length > 5 ? `${names}, … ${inCell.length} in all` : names]);
      }
    }
    return lines;
  }

  /** Tooltip lines of the gradient of `unit` at activation step index `stepIndex`. */
  describeGradient(unit, stepIndex) {
    const g = this.gradient;
    if (!g || !g.align) return [["gradient", "loading…"]];
    const gs = g.align[stepIndex];
    if (gs < 0) return [["gradient", "no gradient record at this step"]];
    const i = gs * g.series.units + unit;
    const count = g.series.count[gs];
    const zeros = g.series.zeros[i];
    const mean = g.means[i];
    const lines = [
      ["gradient zeros / count", `${zeros} / ${count}`],
      ["zero-gradient share", count > 0 ? (zeros / count).toFixed(4) : "no data"],
      ["mean |∂loss/∂pre-act.|", Number.isNaN(mean) ? "no finite value" : formatNumber(mean)],
    ];
    if (g.series.nonfinite[i] > 0) lines.push(["NaN/Inf gradients", String(g.series.nonfinite[i])]);
    return lines;
  }

  showTooltip(event, canvas = this.canvas) {
    const onGradient = canvas === this.gradCanvas;
    const { row, col } = this.cellAt(event, canvas);
    const lines = this.describeCell(row, col, onGradient ? this.gradient.severity : this.analysis.severity);
    showTooltip(this.tooltip, lines, event);
  }
}

/** Up to 4 significant digits, without exponent for everyday magnitudes. */
export function formatNumber(x) {
  if (x === 0) return "0";
  const abs = Math.abs(x);
  return abs >= 1e-3 && abs < 1e6 ? String(Number(x.toPrecision(4))) : x.toExponential(3);
}
