/**
 * The parts of the tab around the layer panels: controls, layer filter, legend, run sections,
 * and the empty / error / downsampled messages. Pure DOM, no fetching.
 */

import { DEAD_RGB, NEARLY_DEAD_RGB, NO_DATA_RGB, RECYCLED_RGB, SCALE_STOPS, cssRgb } from "./colors.js";
import { el } from "./dom.js";
import { GRADIENTS_TAG_SUFFIX, GRAD_MAGNITUDE, GRAD_ZEROS, magnitudeAt, orphanGradientTags } from "./gradients.js";
import { DORMANT_SCORE_CAP, METRIC_DORMANT, METRIC_ZEROS, SORT_DEATH, SORT_INDEX, SORT_LATEST } from "./stats.js";

/** The line a user adds to Keras training to get data into this tab. */
export const SNIPPET_IMPORT = "from tensorboard_plugin_deadrelu.keras import DeadReluMonitor";
export const SNIPPET_FIT = "model.fit(x, y, callbacks=[DeadReluMonitor(log_dir)])";
/** What keeps every step (the loader's default keeps a sample). */
export const KEEP_ALL_FLAG = "--samples_per_plugin deadrelu=0";

function select(label, value, options, onChange, name) {
  const input = el(
    "select",
    { name, on: { change: () => onChange(input.value) } },
    ...options.map(([v, text]) => el("option", { value: v, text })),
  );
  input.value = value;
  return el("label", { class: "control" }, el("span", { class: "control-label", text: label }), input);
}

function number(label, value, { min, max, step, name }, onChange) {
  const input = el("input", { type: "number", name, min, max, step, value: String(value) });
  input.addEventListener("change", () => {
    const v = Number(input.value);
    const ok = input.value !== "" && Number.isFinite(v) && v >= min && v <= max;
    input.classList.toggle("invalid", !ok);
    input.title = ok ? "" : `a number from ${min} to ${max}`;
    if (ok) onChange(v);
  });
  return el("label", { class: "control" }, el("span", { class: "control-label", text: label }), input);
}

/**
 * The control bar. `settings` is read for initial values; `on(change)` receives
 * partial settings when the user changes something.
 */
export function controls(settings, on) {
  const tau = number("τ (dormant if score ≤ τ)", settings.tau, { min: 0, max: 10, step: 0.005, name: "tau" }, (v) => on({ tau: v }));
  tau.hidden = settings.metric !== METRIC_DORMANT;
  const threshold = number("nearly dead at ≥", settings.threshold, { min: 0.001, max: 1, step: 0.005, name: "threshold" }, (v) => on({ threshold: v }));
  threshold.hidden = settings.metric === METRIC_DORMANT;
  const metric = select(
    "colour",
    settings.metric,
    [
      [METRIC_ZEROS, "zero fraction"],
      [METRIC_DORMANT, "τ-dormant score"],
    ],
    (v) => {
      tau.hidden = v !== METRIC_DORMANT;
      threshold.hidden = v === METRIC_DORMANT;
      on({ metric: v });
    },
    "metric",
  );
  const sort = select(
    "sort units",
    settings.sort,
    [
      [SORT_INDEX, "by index"],
      [SORT_DEATH, "by death step"],
      [SORT_LATEST, "by latest value"],
    ],
    (v) => on({ sort: v }),
    "sort",
  );
  const gradient = select(
    "gradient colour",
    settings.gradient,
    [
      [GRAD_ZEROS, "share of zero gradient"],
      [GRAD_MAGNITUDE, "mean |∂loss/∂pre-activation| (log)"],
    ],
    (v) => on({ gradient: v }),
    "gradient",
  );
  gradient.classList.add("gradient-control");
  const chart = select(
    "chart",
    settings.chartScale,
    [
      ["count", "unit counts"],
      ["percent", "% of units"],
    ],
    (v) => on({ chartScale: v }),
    "chartScale",
  );
  return el("div", { class: "controls" }, metric, threshold, tau, sort, gradient, chart);
}

/**
 * The run list: one checkbox per run passing the run filter (`runs`, in the one
 * order of names), "select all matching" and "none". `onChange(chosen)` gets the
 * runs to show; `total` is the number of runs before filtering.
 */
export function runSelector(runs, selected, onChange, total = runs.length) {
  const boxes = runs.map((run) => {
    const box = el("input", { type: "checkbox", name: "run", value: run });
    box.checked = selected.includes(run);
    box.addEventListener("change", () => onChange(boxes.filter((b) => b.checked).map((b) => b.value)));
    return box;
  });
  const all = el("button", { class: "link-button select-matching", type: "button", text: runs.length === total ? "select all" : `select all ${runs.length} matching`, on: { click: () => onChange(runs.slice()) } });
  const none = el("button", { class: "link-button select-none", type: "button", text: "none", on: { click: () => onChange([]) } });
  return el(
    "div",
    { class: "runs" },
    el("span", { class: "control-label", text: runs.length === total ? "runs" : `runs (${runs.length} of ${total})` }),
    el("div", { class: "run-list" }, ...boxes.map((box) => el("label", { class: "run-option" }, box, el("span", { class: "run-name", text: box.value })))),
    all,
    none,
  );
}

const SCALE_CSS = `linear-gradient(to right, ${SCALE_STOPS.map(([p, c]) => `${cssRgb(c)} ${p * 100}%`).join(", ")})`;

function swatch(rgb, text) {
  return el("span", { class: "legend-item" }, el("span", { class: "swatch", style: { background: cssRgb(rgb) } }), text);
}

/** Up to 3 significant digits, exponent for small or large magnitudes. */
function shortNumber(x) {
  const abs = Math.abs(x);
  return abs >= 1e-2 && abs < 1e4 ? String(Number(x.toPrecision(3))) : x.toExponential(1);
}

/**
 * The legend of one layer's gradient heatmap. `mode` is the gradient colouring;
 * `range` the layer's {lo, hi} mean |gradient| (gradients.logRange), whose real
 * values label the log scale.
 */
export function gradientLegend(mode, range, threshold) {
  const magnitude = mode === GRAD_MAGNITUDE;
  let ends = ["0", "1"];
  let caption = "share of probe inputs with gradient exactly 0";
  if (magnitude) {
    ends = range ? [shortNumber(range.hi), shortNumber(range.lo)] : ["–", "–"];
    caption = range ? `mean |∂loss/∂pre-activation|, log scale (this layer; mid ${shortNumber(magnitudeAt(0.5, range))})` : "mean |∂loss/∂pre-activation|: no non-zero value";
  }
  return el(
    "div",
    { class: "grad-scale" },
    el(
      "span",
      { class: "legend-scale" },
      el("span", { class: "legend-end", text: ends[0] }),
      el("span", { class: "gradient", style: { background: SCALE_CSS } }),
      el("span", { class: "legend-end", text: ends[1] }),
      el("span", { class: "legend-caption", text: caption }),
    ),
    swatch(DEAD_RGB, "gradient 0 on every probe input"),
    magnitude ? null : swatch(NEARLY_DEAD_RGB, `≥ ${threshold}`),
  );
}

/** The colour legend for the chosen metric; `recycled`: with the marker of recycled units (some shown layer has them). */
export function legend(settings, { recycled = false } = {}) {
  const gradient = SCALE_CSS;
  const dormant = settings.metric === METRIC_DORMANT;
  const ends = dormant ? [`≥ ${DORMANT_SCORE_CAP}× layer mean`, "layer mean", "0"] : ["0", "zero fraction", "1"];
  return el(
    "div",
    { class: "legend" },
    el(
      "span",
      { class: "legend-scale" },
      el("span", { class: "legend-end", text: ends[0] }),
      el("span", { class: "gradient", style: { background: gradient }, title: dormant ? "mean |activation| relative to the layer's mean" : "share of inputs on which the unit output exactly 0" }),
      el("span", { class: "legend-end", text: ends[2] }),
      el("span", { class: "legend-caption", text: dormant ? "(τ-dormant score: mean |activation| / layer mean)" : "(share of inputs with output exactly 0)" }),
    ),
    dormant ? swatch(DEAD_RGB, `dormant (score ≤ ${settings.tau})`) : swatch(DEAD_RGB, "dead (zero on every input)"),
    dormant ? null : swatch(NEARLY_DEAD_RGB, `nearly dead (≥ ${settings.threshold})`),
    swatch(NO_DATA_RGB, "no data"),
    recycled
      ? el(
          "span",
          { class: "legend-item legend-recycled", title: "a unit reset by ReDo recycling, at the step of the record that triggered it" },
          el("span", { class: "swatch-marker", style: { borderBottomColor: cssRgb(RECYCLED_RGB) } }),
          "recycled",
        )
      : null,
    el("span", { class: "legend-hint", text: "Drag across a heatmap to zoom, double-click to reset; hover a cell for its numbers." }),
  );
}

/** The message shown when the logdir holds no Dead ReLU records. */
export function emptyState() {
  return el(
    "div",
    { class: "message empty-state" },
    el("h2", { text: "No Dead ReLU data found" }),
    el("p", { text: "None of the runs in this logdir has Dead ReLU records yet. Add the monitor to your Keras training and point TensorBoard at the same log directory:" }),
    el("pre", { class: "snippet" }, el("code", { text: `${SNIPPET_IMPORT}\n${SNIPPET_FIT}` })),
    el("p", { text: "In a custom training loop, call tensorboard_plugin_deadrelu.summary.activations(name, layer_output, step) inside a tf.summary writer's context. Records appear here after TensorBoard's next reload." }),
  );
}

/** A visible error message (API errors, broken data). */
export function errorMessage(text) {
  return el("div", { class: "message error", role: "alert" }, el("strong", { text: "Dead ReLU tab: " }), el("span", { text }));
}

/** An error on reload while the previous panels stay on screen (dimmed): says what failed and how old they are. */
export function staleDataMessage(text, shownAt) {
  return el(
    "div",
    { class: "message error", role: "alert" },
    el("strong", { text: "Dead ReLU tab: " }),
    el("span", { text: `could not refresh: ${text} — showing data from ${shownAt.toLocaleTimeString()}, which may be out of date.` }),
  );
}

/**
 * Says that TensorBoard kept only a sample of the steps of some layers of a run,
 * and how to keep all; `limits` maps each such layer (among those loaded so far)
 * to TensorBoard's sample limit. Null when the map is empty.
 */
export function downsampledNote(run, limits) {
  if (!limits.size) return null;
  const limit = limits.values().next().value;
  return el(
    "div",
    { class: "message warning" },
    el("span", {
      text:
        `TensorBoard kept only ${limit != null ? `${limit} ` : "a sample of the "}steps per layer for ${limits.size} layer(s) of run "${run}"` +
        ", so some steps are missing. To keep every step, restart TensorBoard with ",
    }),
    el("code", { text: KEEP_ALL_FLAG }),
    el("span", { text: "." }),
  );
}

/** Says which gradient series of a run are not shown because their layer has no activation records. */
export function orphanGradientsNote(run, infos) {
  const tags = orphanGradientTags(infos);
  if (!tags.length) return null;
  return el("div", {
    class: "message warning",
    text:
      `Run "${run}" has gradient records without the matching activation records, so they are not shown: ${tags.join(", ")}. ` +
      `A layer's gradients are drawn under its activation heatmap (tag "<layer>${GRADIENTS_TAG_SUFFIX}").`,
  });
}

/**
 * The layer filter (and, with other `name`, `placeholder` and `label`, the
 * run filter): a text input for a regular expression (TensorBoard's tag
 * filter does the same), applied as the user types. Returns {element,
 * showError(message | null)}; `onChange(text)` receives the text.
 */
export function filterInput(text, onChange, { name = "filter", placeholder = "Filter layers (regular expression)", label = "filter layers by regular expression" } = {}) {
  const input = el("input", {
    type: "search",
    name,
    class: "filter-input",
    placeholder,
    "aria-label": label,
    spellcheck: "false",
    autocomplete: "off",
  });
  input.value = text;
  input.addEventListener("input", () => onChange(input.value));
  const error = el("span", { class: "filter-error", role: "status" });
  return {
    element: el("label", { class: "control filter" }, input, error),
    showError(message) {
      input.classList.toggle("invalid", Boolean(message));
      // V8 says "Invalid regular expression: /x(/i: Unterminated group": keep the reason.
      error.textContent = message ? `invalid regular expression: ${message.split(": ").pop()}` : "";
    },
  };
}

/**
 * One run's section: a title that collapses and opens the section, notes, and
 * the layer panels' elements. Returns {element, notes, setState({collapsed,
 * shown, total, filtered})}; `onToggle()` is called when the title is clicked.
 */
export function runSection(run, panelElements, orphanNote, onToggle) {
  const arrow = el("span", { class: "run-arrow", "aria-hidden": "true" });
  const count = el("span", { class: "run-count" });
  const toggle = el("button", { class: "run-toggle", type: "button", on: { click: onToggle } }, arrow, el("span", { class: "run-name", text: run }));
  const notes = el("div", { class: "run-notes" });
  const panels = el("div", { class: "run-panels" }, ...panelElements);
  const body = el("div", { class: "run-body" }, notes, orphanNote, panels);
  const element = el("section", { class: "run-section", dataset: { run } }, el("h2", { class: "run-title" }, toggle, count), body);
  return {
    element,
    notes,
    setState({ collapsed, shown, total, filtered }) {
      toggle.setAttribute("aria-expanded", String(!collapsed));
      arrow.textContent = collapsed ? "▸" : "▾";
      toggle.title = collapsed ? "show this run's layers" : "hide this run's layers";
      body.hidden = collapsed;
      element.classList.toggle("collapsed", collapsed);
      count.textContent = filtered ? `${shown} of ${total} layers match the filter` : `${total} layer${total === 1 ? "" : "s"}`;
      if (collapsed) count.textContent += " (hidden)";
    },
  };
}

/**
 * The download control of a figure: "PNG" and "CSV" buttons; `what` names the
 * figure for screen readers, `onPng()` / `onCsv()` save the files.
 */
export function downloadButtons(what, onPng, onCsv) {
  return el(
    "span",
    { class: "downloads" },
    el("span", { class: "control-label", text: "download" }),
    el("button", { type: "button", class: "link-button download-png", title: `save ${what} as a PNG image`, text: "PNG", on: { click: onPng } }),
    el("button", { type: "button", class: "link-button download-csv", title: `save the numbers of ${what} as CSV`, text: "CSV", on: { click: onCsv } }),
  );
}
