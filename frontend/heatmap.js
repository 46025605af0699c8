/**
 * Drawing a layer's heatmap: colouring an aggregated grid into RGBA pixels (pure,
 * unit-tested), choosing axis ticks (pure), and putting both on a canvas / SVG.
 */

import { DEAD_RGB, NEARLY_DEAD_RGB, NO_DATA_RGB, scaleInto } from "./colors.js";
import { GONE, METRIC_ZEROS } from "./stats.js";

/**
 * Colours a rows x cols grid of severities (see stats.severity) into RGBA bytes:
 * GONE -> the dead colour; in the zeros metric a fraction >= nearlyDeadThreshold
 * -> the nearly-dead colour; NaN -> the no-data grey; otherwise the scale.
 */
export function paint(grid, metric, nearlyDeadThreshold, out = new Uint8ClampedArray(grid.length * 4)) {
  const highlightNearlyDead = metric === METRIC_ZEROS;
  const fixed = (j, rgb) => {
    out[j] = rgb[0];
    out[j + 1] = rgb[1];
    out[j + 2] = rgb[2];
  };
  for (let i = 0; i < grid.length; i++) {
    const v = grid[i];
    const j = i * 4;
    if (v === GONE) fixed(j, DEAD_RGB);
    else if (v !== v) fixed(j, NO_DATA_RGB); // NaN
    else if (highlightNearlyDead && v >= nearlyDeadThreshold) fixed(j, NEARLY_DEAD_RGB);
    else scaleInto(v, out, j);
    out[j + 3] = 255;
  }
  return out;
}

/**
 * Returns indices in [start, end) at most `count` of them, always including
 * start, a constant stride apart: the smallest "nice" stride (1, 2, 5 x 10^k)
 * that keeps to `count`, so labels of evenly spaced steps read 0, 2, 4, ...
 * rather than 0, 1, 3, 4.
 */
export function evenTicks(start, end, count) {
  const n = end - start;
  if (n <= 0) return [];
  const stride = niceStride(count > 1 ? (n - 1) / (count - 1) : n);
  const out = [];
  for (let i = start; i < end; i += stride) out.push(i);
  return out;
}

/** The smallest of 1, 2, 5 x 10^k that is >= `raw` (and >= 1). */
function niceStride(raw) {
  const target = Math.max(1, raw);
  const magnitude = 10 ** Math.floor(Math.log10(target));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= target - 1e-9);
}

/** Returns multiples of a "nice" step (1, 2, 5 x 10^k) in [start, end), about `count` of them. */
export function niceTicks(start, end, count) {
  const n = end - start;
  if (n <= 0) return [];
  const raw = Math.max(1, n / count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(start / step) * step; v < end; v += step) out.push(v);
  return out;
}

/** Puts a painted grid on `canvas`, resizing its bitmap to cols x rows pixels. */
export function putPixels(canvas, rgba, rows, cols) {
  if (canvas.width !== cols) canvas.width = cols;
  if (canvas.height !== rows) canvas.height = rows;
  const context = canvas.getContext("2d");
  context.putImageData(new ImageData(rgba, cols, rows), 0, 0);
}

const SVG = "http://www.w3.org/2000/svg";

/** Creates an SVG element with attributes (text goes through textContent only). */
export function svg(name, attributes = {}, text = null) {
  const element = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) element.setAttribute(k, String(v));
  if (text != null) element.textContent = text;
  return element;
}

/**
 * Draws an axis into an (emptied) SVG element.
 * `ticks` is a list of {at: pixel position, label}; `side` is "left" or "bottom".
 */
export function drawAxis(element, side, length, ticks, title) {
  element.replaceChildren();
  if (side === "bottom") {
    element.setAttribute("height", 34);
    element.setAttribute("width", length);
    element.append(svg("line", { x1: 0, x2: length, y1: 0.5, y2: 0.5, class: "axis-line" }));
    for (const { at, label } of ticks) {
      element.append(svg("line", { x1: at, x2: at, y1: 0, y2: 4, class: "axis-line" }));
      // Labels at the ends are aligned to the axis' end instead of half cut off (about 6 px per digit).
      const half = 3 * label.length;
      const anchor = at < half ? "start" : at > length - half ? "end" : "middle";
      const x = anchor === "start" ? 0 : anchor === "end" ? length : at;
      element.append(svg("text", { x, y: 14, "text-anchor": anchor }, label));
    }
    element.append(svg("text", { x: length / 2, y: 30, "text-anchor": "middle", class: "axis-title" }, title));
  } else {
    const width = Number(element.getAttribute("width")) || 56;
    element.setAttribute("height", length);
    element.append(svg("line", { x1: width - 0.5, x2: width - 0.5, y1: 0, y2: length, class: "axis-line" }));
    for (const { at, label } of ticks) {
      element.append(svg("line", { x1: width - 4, x2: width, y1: at, y2: at, class: "axis-line" }));
      // Keep the first and last labels inside the axis instead of half cut off.
      const y = Math.min(length - 1, Math.max(8, at + 3.5));
      element.append(svg("text", { x: width - 6, y, "text-anchor": "end" }, label));
    }
    element.append(
      svg(
        "text",
        { x: 0, y: 0, transform: `translate(10 ${length / 2}) rotate(-90)`, "text-anchor": "middle", class: "axis-title" },
        title,
      ),
    );
  }
}

/**
 * Draws recycled-unit markers (recycled.markerPlacements: centres and sides in
 * CSS pixels) on the overlay canvas `canvas` laid over a heatmap of width x
 * height CSS pixels: upward triangles of `rgb` with a white rim, so they stand
 * out on pale and dark cells alike. The bitmap follows devicePixelRatio, so
 * markers stay sharp whatever the heatmap's cell size.
 */
export function drawMarkers(canvas, placements, width, height, rgb, dpr = globalThis.devicePixelRatio || 1) {
  const w = Math.max(1, Math.round(width * dpr));
  const h = Math.max(1, Math.round(height * dpr));
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const context = canvas.getContext("2d");
  context.setTransform(1, 0, 0, 1, 0, 0);
  context.clearRect(0, 0, w, h);
  if (!placements.length) return;
  context.scale(dpr, dpr);
  context.beginPath();
  for (const { x, y, size } of placements) {
    const half = size / 2;
    context.moveTo(x, y - half);
    context.lineTo(x + half, y + half);
    context.lineTo(x - half, y + half);
    context.closePath();
  }
  context.lineJoin = "round";
  context.lineWidth = 2;
  context.strokeStyle = "#fff";
  context.stroke();
  context.fillStyle = `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
  context.fill();
}
