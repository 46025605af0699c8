/**
 * Downloads of a layer's heatmap or a run's whole-network view: a PNG of the
 * figure as drawn (heatmap, axes, colour key, run and layer as its title,
 * composed on an offscreen canvas at devicePixelRatio) and a CSV of the numbers
 * behind it. Saved through a Blob, an object URL and an <a download> click:
 * nothing goes over the network. File names, CSV text and the figure's layout
 * are pure functions (unit-tested); the rest draws.
 */

import { cssRgb } from "./colors.js";

/** Characters file systems refuse (Windows' set, which covers the others) and control characters. */
const UNSAFE = /[/\\:*?"<>|\u0000-\u001f\u007f]/g;

/**
 * The download's file name `<run>_<layer>.<ext>` with every character a file
 * system refuses (`/\:*?"<>|` and control characters) replaced by `_`.
 */
export function safeFileName(run, layer, ext) {
  let base = `${run}_${layer}`.replace(UNSAFE, "_");
  // Windows drops trailing dots and spaces, which would change the extension.
  base = base.replace(/[. ]+$/, (tail) => "_".repeat(tail.length));
  return `${base}.${ext}`;
}

/** One CSV field: quoted (quotes doubled) when it holds a comma, quote or line break. */
export function csvField(value) {
  const text = value == null ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** CSV text of `rows` (arrays of fields), lines ended by CRLF as RFC 4180 says. */
export function csvText(rows) {
  return rows.map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
}

/**
 * The rows of a layer's CSV: units (rows) x steps (columns) of the zero
 * fraction zeros / count, as JavaScript prints a double (it reads back exactly);
 * empty where the step has no record (count 0). `series` as model.js builds it.
 */
export function heatmapRows(series) {
  const { units, steps, count, zeros } = series;
  const rows = [["unit \\ step", ...Array.from(steps, String)]];
  for (let u = 0; u < units; u++) {
    const row = [String(u)];
    for (let s = 0; s < steps.length; s++) row.push(count[s] > 0 ? String(Number(zeros[s * units + u]) / Number(count[s])) : "");
    rows.push(row);
  }
  return rows;
}

/**
 * The rows of a run's whole-network CSV: layers (rows, as shown) x the run's
 * steps (columns) of the share of the layer's units gone (`gone(layer)`: the
 * per-step dead or dormant counts); empty where the layer has no record.
 */
export function networkRows(layers, gone) {
  const steps = [...new Set(layers.flatMap((layer) => layer.steps))].sort((a, b) => a - b);
  const rows = [["layer \\ step", ...steps.map(String)]];
  for (const layer of layers) {
    const counts = gone(layer);
    const at = new Map(layer.steps.map((step, i) => [step, i]));
    rows.push([
      layer.tag,
      ...steps.map((step) => {
        const i = at.get(step);
        return i == null || !counts || !(layer.count[i] > 0) || !(layer.units > 0) ? "" : String(counts[i] / layer.units);
      }),
    ]);
  }
  return rows;
}

const MARGIN = 12;
const TITLE_HEIGHT = 24;
const KEY_HEIGHT = 28;
const AXIS_HEIGHT = 34;

/**
 * Where the parts of a figure go, in CSS pixels: a title line, the left axis
 * (`leftWidth`) beside the plot (`plotWidth` x `plotHeight`), the bottom axis
 * under the plot, the colour key under that. Returns {width, height, title,
 * left, plot, bottom, key} with {x, y} (and sizes) of each part.
 */
export function figureLayout({ plotWidth, plotHeight, leftWidth, keyWidth = 0 }) {
  const plot = { x: MARGIN + leftWidth, y: MARGIN + TITLE_HEIGHT, width: plotWidth, height: plotHeight };
  const width = Math.ceil(Math.max(plot.x + plotWidth, MARGIN + keyWidth) + MARGIN);
  const bottom = { x: plot.x, y: plot.y + plotHeight };
  const key = { x: MARGIN, y: bottom.y + AXIS_HEIGHT + 4 };
  return {
    width,
    height: Math.ceil(key.y + KEY_HEIGHT + MARGIN / 2),
    title: { x: MARGIN, y: MARGIN + 15 },
    left: { x: MARGIN, y: plot.y },
    plot,
    bottom,
    key,
  };
}

const FONT = 'Roboto, "Helvetica Neue", Arial, sans-serif';

/** Draws the lines and texts of an axis SVG (heatmap.drawAxis') onto `context` at (x, y). */
function drawSvgAxis(context, svg, x, y) {
  context.save();
  context.translate(x, y);
  context.strokeStyle = "#9e9e9e";
  context.fillStyle = "#616161";
  context.lineWidth = 1;
  for (const node of svg.children) {
    const attr = (name) => Number(node.getAttribute(name) || 0);
    if (node.tagName === "line") {
      context.beginPath();
      context.moveTo(attr("x1"), attr("y1"));
      context.lineTo(attr("x2"), attr("y2"));
      context.stroke();
    } else if (node.tagName === "text") {
      const isTitle = node.classList.contains("axis-title");
      context.font = `${isTitle ? 12 : 11}px ${FONT}`;
      const anchor = node.getAttribute("text-anchor");
      context.textAlign = anchor === "end" ? "right" : anchor === "middle" ? "center" : "left";
      context.save();
      const transform = /translate\(([-\d.e]+)[ ,]+([-\d.e]+)\)\s*rotate\(([-\d.e]+)\)/.exec(node.getAttribute("transform") || "");
      if (transform) {
        context.translate(Number(transform[1]), Number(transform[2]));
        context.rotate((Number(transform[3]) * Math.PI) / 180);
      }
      context.fillText(node.textContent, attr("x"), attr("y"));
      context.restore();
    }
  }
  context.restore();
}

/** The colour key's width in CSS pixels (measured with `context`'s font). */
function keyWidth(context, key) {
  context.font = `11px ${FONT}`;
  let width = 0;
  if (key.stops) width += context.measureText(key.ends[0]).width + 150 + context.measureText(key.ends[1]).width + 16 + context.measureText(key.caption).width + 16;
  for (const [, text] of key.swatches) width += 18 + context.measureText(text).width + 16;
  return width;
}

function drawKey(context, key, x, y) {
  context.font = `11px ${FONT}`;
  context.textBaseline = "middle";
  context.fillStyle = "#616161";
  context.textAlign = "left";
  const mid = y + 8;
  if (key.stops) {
    context.fillText(key.ends[0], x, mid);
    x += context.measureText(key.ends[0]).width + 6;
    const ramp = context.createLinearGradient(x, 0, x + 140, 0);
    for (const [p, rgb] of key.stops) ramp.addColorStop(p, cssRgb(rgb));
    context.fillStyle = ramp;
    context.fillRect(x, mid - 5, 140, 10);
    context.strokeStyle = "#e0e0e0";
    context.strokeRect(x + 0.5, mid - 5 + 0.5, 139, 9);
    x += 146;
    context.fillStyle = "#616161";
    context.fillText(key.ends[1], x, mid);
    x += context.measureText(key.ends[1]).width + 10;
    context.fillText(key.caption, x, mid);
    x += context.measureText(key.caption).width + 16;
  }
  for (const [rgb, text] of key.swatches) {
    context.fillStyle = cssRgb(rgb);
    context.fillRect(x, mid - 6, 12, 12);
    context.strokeStyle = "rgba(0,0,0,0.15)";
    context.strokeRect(x + 0.5, mid - 5.5, 11, 11);
    x += 18;
    context.fillStyle = "#616161";
    context.fillText(text, x, mid);
    x += context.measureText(text).width + 16;
  }
  context.textBaseline = "alphabetic";
}

/**
 * A canvas of the figure at `dpr` device pixels per CSS pixel: `title`, the
 * heatmap `image` (a canvas, scaled without smoothing to the size it has on the
 * page, `plotWidth` x `plotHeight`), the `leftAxis` and `bottomAxis` SVGs as
 * drawn beside it, and the colour `key` ({stops, ends, caption, swatches: [[rgb, text]]}).
 */
export function composeFigure({ title, image, overlay = null, plotWidth, plotHeight, leftAxis, leftWidth, bottomAxis, key }, dpr = globalThis.devicePixelRatio || 1) {
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d");
  const layout = figureLayout({ plotWidth, plotHeight, leftWidth, keyWidth: keyWidth(context, key) });
  canvas.width = Math.round(layout.width * dpr);
  canvas.height = Math.round(layout.height * dpr);
  canvas.dataset.layout = JSON.stringify(layout);
  context.scale(dpr, dpr);
  context.fillStyle = "#fff";
  context.fillRect(0, 0, layout.width, layout.height);
  context.fillStyle = "#212121";
  context.font = `500 14px ${FONT}`;
  context.textAlign = "left";
  context.fillText(title, layout.title.x, layout.title.y, layout.width - 2 * MARGIN);
  context.imageSmoothingEnabled = false;
  context.drawImage(image, layout.plot.x, layout.plot.y, plotWidth, plotHeight);
  // Recycled-unit markers: drawn at screen resolution, scaled like the heatmap.
  if (overlay) {
    context.imageSmoothingEnabled = true;
    context.drawImage(overlay, layout.plot.x, layout.plot.y, plotWidth, plotHeight);
  }
  if (leftAxis) drawSvgAxis(context, leftAxis, layout.left.x, layout.left.y);
  if (bottomAxis) drawSvgAxis(context, bottomAxis, layout.bottom.x, layout.bottom.y);
  drawKey(context, key, layout.key.x, layout.key.y);
  return canvas;
}

/** Saves `blob` as a file named `name`: an object URL clicked through a temporary <a download>. */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The click starts the download asynchronously; revoking at once can cancel it.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Saves a composed figure canvas as `name` (PNG). */
export function savePng(canvas, name) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => {
      if (!blob) {
        reject(new Error("the browser could not encode the PNG"));
        return;
      }
      saveBlob(blob, name);
      resolve(blob);
    }, "image/png");
  });
}

/** Saves CSV `rows` as `name`. */
export function saveCsv(rows, name) {
  saveBlob(new Blob([csvText(rows)], { type: "text/csv;charset=utf-8" }), name);
}
