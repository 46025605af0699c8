/**
 * The small line chart under each heatmap: dead (or dormant), nearly dead and
 * still-dead units per step (and recycled units, where a remedy reset some),
 * x-aligned with the heatmap's columns.
 */

import { DEAD_RGB, NEARLY_DEAD_RGB, RECYCLED_RGB, cssRgb } from "./colors.js";
import { svg } from "./heatmap.js";

export const CHART_HEIGHT = 52;

/**
 * Draws `lines` ([{values: Int32Array [S], label, color, dashed}]) for the step
 * indices [stepStart, stepEnd) into the SVG element `element` of width `width`.
 * `scale` is "count" (y up to the largest value) or "percent" (y up to `units`).
 */
export function drawChart(element, { width, lines, units, stepStart, stepEnd, scale }) {
  element.replaceChildren();
  element.setAttribute("width", width);
  element.setAttribute("height", CHART_HEIGHT);
  const n = stepEnd - stepStart;
  if (n <= 0) return;
  let top = units;
  if (scale === "count") {
    top = 1;
    for (const { values } of lines) for (let s = stepStart; s < stepEnd; s++) top = Math.max(top, values[s]);
  }
  const plotTop = 6;
  const plotHeight = CHART_HEIGHT - plotTop - 2;
  const y = (v) => plotTop + plotHeight * (1 - v / top);
  const x = (s) => ((s - stepStart + 0.5) / n) * width;
  element.append(svg("line", { x1: 0, x2: width, y1: y(0) + 0.5, y2: y(0) + 0.5, class: "axis-line" }));
  element.append(svg("line", { x1: 0, x2: width, y1: y(top), y2: y(top), class: "grid-line" }));
  for (const { values, color, dashed, name } of lines) {
    const points = [];
    for (let s = stepStart; s < stepEnd; s++) points.push(`${x(s).toFixed(1)},${y(values[s]).toFixed(1)}`);
    element.append(
      svg("polyline", {
        points: points.join(" "),
        fill: "none",
        stroke: color,
        "stroke-width": 1.5,
        "stroke-dasharray": dashed ? "4 3" : "none",
        ...(name ? { "data-series": name } : {}),
      }),
    );
  }
  const topLabel = scale === "count" ? String(top) : "100%";
  element.append(svg("text", { x: 2, y: plotTop + 8, class: "chart-label" }, topLabel));
}

/**
 * The chart's series for one metric, with the colours the legend uses;
 * `recycledPerStep` (Int32Array [S], recycled.recycledIndex's perStep) adds a
 * "recycled" series when given.
 */
export function chartLines(counts, metricLabel, recycledPerStep = null) {
  const lines = [{ values: counts.gone, label: metricLabel, color: cssRgb(DEAD_RGB) }];
  if (counts.nearlyDead) lines.push({ values: counts.nearlyDead, label: "nearly dead", color: cssRgb(NEARLY_DEAD_RGB) });
  lines.push({ values: counts.stillGone, label: `still ${metricLabel} at the end`, color: "#616161", dashed: true });
  if (recycledPerStep) lines.push({ values: recycledPerStep, label: "recycled", color: cssRgb(RECYCLED_RGB), name: "recycled" });
  return lines;
}
