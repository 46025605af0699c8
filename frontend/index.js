/**
 * Entry point of the Dead ReLU tab. TensorBoard loads this module inside the
 * tab's iframe (data/plugin_entry.html?name=deadrelu) and calls `render()`.
 *
 * The App keeps the user's choices (runs, metric, thresholds, sort, zoom) across
 * TensorBoard's data reloads and in localStorage, fetches what the selected runs
 * need, and hands drawing to the panels.
 */

import { GRAD_MAGNITUDE, GRAD_ZEROS, orphanGradientTags, panelLayers } from "./gradients.js";
import { listenForReloads } from "./host.js";
import { Api, ApiError, layersInModelOrder, sortedRuns } from "./model.js";
import { LayerPanel } from "./panel.js";
import { el } from "./dom.js";
import { DEFAULT_TAU, DEFAULT_THRESHOLD, METRIC_DORMANT, METRIC_ZEROS, SORT_DEATH, SORT_INDEX, SORT_LATEST } from "./stats.js";
import * as views from "./views.js";

const STORAGE_KEY = "deadrelu.settings.v1";
/** Runs shown when the user has not chosen yet. */
const DEFAULT_RUN_COUNT = 4;
/** Heatmap requests in flight at once (TensorBoard serves them from one process). */
const PARALLEL_REQUESTS = 4;

export const DEFAULT_SETTINGS = Object.freeze({
  runs: null, // null: the first DEFAULT_RUN_COUNT runs
  metric: METRIC_ZEROS,
  tau: DEFAULT_TAU,
  threshold: DEFAULT_THRESHOLD,
  sort: SORT_INDEX,
  chartScale: "count",
  gradient: GRAD_ZEROS,
});

/** Settings from localStorage, falling back field by field to the defaults. */
function loadSettings(storage) {
  let saved = {};
  try {
    saved = JSON.parse(storage?.getItem(STORAGE_KEY) || "{}") || {};
  } catch (_) {
    // A corrupt or foreign value: start from the defaults.
  }
  const s = { ...DEFAULT_SETTINGS };
  if (Array.isArray(saved.runs) && saved.runs.every((r) => typeof r === "string")) s.runs = saved.runs;
  if ([METRIC_ZEROS, METRIC_DORMANT].includes(saved.metric)) s.metric = saved.metric;
  if (Number.isFinite(saved.tau) && saved.tau >= 0) s.tau = saved.tau;
  if (Number.isFinite(saved.threshold) && saved.threshold > 0 && saved.threshold <= 1) s.threshold = saved.threshold;
  if ([SORT_INDEX, SORT_DEATH, SORT_LATEST].includes(saved.sort)) s.sort = saved.sort;
  if (["count", "percent"].includes(saved.chartScale)) s.chartScale = saved.chartScale;
  if ([GRAD_ZEROS, GRAD_MAGNITUDE].includes(saved.gradient)) s.gradient = saved.gradient;
  return s;
}

/** Runs `jobs` (functions returning promises) with at most `limit` running at once. */
async function runPool(jobs, limit) {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await jobs[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
}

export class App {
  constructor(root, api, storage = globalThis.localStorage) {
    this.root = root;
    this.api = api;
    this.storage = storage;
    this.settings = loadSettings(storage);
    this.panels = new Map();
    this.tags = null;
    this.shownAt = null;
    this.generation = 0;

    this.tooltip = el("div", { class: "tooltip", hidden: "" });
    this.runBar = el("div", { class: "run-bar" });
    this.controlBar = el("div", { class: "control-bar" });
    this.legendHolder = el("div", { class: "legend-holder" });
    this.messages = el("div", { class: "messages" });
    this.overviewHolder = el("div", { class: "overview-holder" });
    this.runsHolder = el("div", { class: "run-sections" });
    this.toolbar = el("header", { class: "toolbar" }, this.runBar, this.controlBar, this.legendHolder);
    this.root.replaceChildren(
      this.toolbar,
      this.messages,
      this.overviewHolder,
      this.runsHolder,
      this.tooltip,
    );
    this.controlBar.append(views.controls(this.settings, (change) => this.changeSettings(change)));
    this.legendHolder.append(views.legend(this.settings));
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => this.redraw(), 150);
    });
  }

  setState(state) {
    this.root.dataset.state = state;
  }

  saveSettings() {
    try {
      this.storage?.setItem(STORAGE_KEY, JSON.stringify(this.settings));
    } catch (_) {
      // Storage can be full or disabled; the choices then last for this page only.
    }
  }

  selectedRuns() {
    const runs = sortedRuns(this.tags || {});
    const chosen = this.settings.runs;
    // A choice made for another logdir (same TensorBoard address) matches none of
    // these runs: show the default rather than an empty page. "none" stays none.
    if (chosen == null || (chosen.length > 0 && !runs.some((run) => chosen.includes(run)))) {
      return runs.slice(0, DEFAULT_RUN_COUNT);
    }
    return runs.filter((run) => chosen.includes(run));
  }

  showError(error) {
    const text = error instanceof ApiError ? error.message : `unexpected error: ${error && error.message ? error.message : error}`;
    // Like TensorBoard's own tabs, keep the last panels on a failed reload, but
    // dimmed and dated (data-stale) so that nobody reads them as current.
    const stale = this.shownAt != null;
    this.messages.replaceChildren(stale ? views.staleDataMessage(text, this.shownAt) : views.errorMessage(text));
    if (stale) this.root.dataset.stale = "";
    this.setState("error");
  }

  /** Fetches the list of runs and layers and (re)draws everything; called on start and on each TensorBoard reload. */
  async refresh() {
    const generation = ++this.generation;
    this.setState("loading");
    let tags;
    try {
      tags = await this.api.tags();
    } catch (error) {
      if (generation === this.generation) this.showError(error);
      return;
    }
    if (generation !== this.generation) return;
    this.tags = tags;
    this.messages.replaceChildren();
    delete this.root.dataset.stale;
    const runs = sortedRuns(tags);
    /** When the data on screen was listed; null while no panels are shown. */
    this.shownAt = runs.length ? new Date() : null;
    // Controls without data would only distract from the empty-state help.
    this.toolbar.hidden = !runs.length;
    if (!runs.length) {
      this.selectorKey = this.sectionsKey = null;
      this.runBar.replaceChildren();
      this.overviewHolder.replaceChildren();
      this.runsHolder.replaceChildren(views.emptyState());
      this.setState("empty");
      return;
    }
    const selectorKey = JSON.stringify([runs, this.selectedRuns()]);
    if (selectorKey !== this.selectorKey) {
      this.selectorKey = selectorKey;
      this.runBar.replaceChildren(
        views.runSelector(runs, this.selectedRuns(), (selected) => {
          this.settings.runs = selected;
          this.saveSettings();
          this.refresh();
        }),
      );
    }
    // The gradient colour control only matters when some shown layer has gradients.
    const gradientControl = this.controlBar.querySelector(".gradient-control");
    if (gradientControl) gradientControl.hidden = !this.selectedRuns().some((run) => panelLayers(tags[run], Object.keys(tags[run])).some((l) => l.gradientTag));
    await this.showRuns(generation);
  }

  /** Builds the run sections, loads what is missing or stale, and draws. */
  async showRuns(generation) {
    const selected = this.selectedRuns();
    const loads = [];
    const gradientLoads = [];
    const layout = selected.map((run) => {
      const infos = this.tags[run];
      const panels = panelLayers(infos, layersInModelOrder(infos)).map(({ tag, gradientTag }) => {
        const key = JSON.stringify([run, tag]);
        let panel = this.panels.get(key);
        if (!panel) {
          panel = new LayerPanel(run, tag, this.tooltip);
          this.panels.set(key, panel);
        }
        const info = infos[tag];
        const stale = !panel.series || panel.info?.last_step !== info.last_step || panel.info?.steps !== info.steps || panel.info?.units !== info.units;
        if (stale) loads.push(() => this.load(panel, info, generation));
        panel.setGradientTag(gradientTag);
        if (gradientTag && (stale || panel.gradientStale(infos[gradientTag]))) {
          gradientLoads.push(() => this.loadGradients(panel, infos[gradientTag], generation));
        }
        return panel;
      });
      return { run, infos, panels };
    });
    // Rebuilding the same sections would detach them for a moment and make the
    // page jump to the top on every auto-reload; only rebuild when they changed.
    const sectionsKey = JSON.stringify(layout.map(({ run, infos, panels }) => [run, panels.map((p) => [p.tag, infos[p.tag].downsampled]), orphanGradientTags(infos)]));
    if (sectionsKey !== this.sectionsKey) {
      this.sectionsKey = sectionsKey;
      this.runsHolder.replaceChildren(
        ...layout.map(({ run, infos, panels }) =>
          el(
            "section",
            { class: "run-section", dataset: { run } },
            el("h2", { class: "run-title", text: run }),
            views.downsampledNote(run, infos),
            views.orphanGradientsNote(run, infos),
            el("div", { class: "run-panels" }, ...panels.map((p) => p.element)),
          ),
        ),
      );
      if (!selected.length) this.runsHolder.append(el("p", { class: "message", text: "Select one or more runs above." }));
    }
    this.redraw();
    await runPool(loads, PARALLEL_REQUESTS);
    if (generation !== this.generation) return;
    this.setState("ready");
    this.updateOverview();
    // Gradients come after the activation heatmaps are drawn, and after the
    // activations' own details, which the tooltip and the dormant metric need.
    const details = [...this.visiblePanels()].filter((p) => p.series && !p.series.absSum);
    await runPool(details.map((panel) => () => this.loadDetails(panel, generation)), 2);
    if (generation === this.generation) this.root.dataset.details = "loaded";
    await runPool(gradientLoads, 2);
    if (generation === this.generation) this.root.dataset.gradients = "loaded";
  }

  *visiblePanels() {
    for (const run of this.selectedRuns()) {
      for (const tag of Object.keys(this.tags[run] || {})) {
        const panel = this.panels.get(JSON.stringify([run, tag]));
        if (panel) yield panel;
      }
    }
  }

  async load(panel, info, generation) {
    try {
      const series = await this.api.series(panel.run, panel.tag);
      if (generation !== this.generation) return;
      panel.info = info;
      panel.setSeries(series);
      panel.draw(this.settings);
      this.updateOverview();
    } catch (error) {
      panel.note.textContent = `Could not load this layer: ${error.message}`;
      panel.note.hidden = false;
      panel.note.classList.add("error");
    }
  }

  async loadDetails(panel, generation) {
    try {
      await this.api.loadDetails(panel.series);
      if (generation !== this.generation) return;
      if (this.settings.metric === METRIC_DORMANT) {
        panel.draw(this.settings);
        this.updateOverview();
      }
    } catch (error) {
      panel.note.textContent = `Could not load mean |activation| for this layer: ${error.message}`;
      panel.note.hidden = false;
      panel.note.classList.add("error");
    }
  }

  /** Loads a layer's gradient series (every field: both colourings and the tooltip need them) and draws it. */
  async loadGradients(panel, info, generation) {
    if (!panel.series) return; // the layer itself did not load; its note says why
    try {
      const series = await this.api.series(panel.run, panel.gradientTag);
      await this.api.loadDetails(series);
      if (generation !== this.generation) return;
      panel.setGradient(series, info);
      panel.drawGradient(this.settings);
    } catch (error) {
      panel.gradCaption.textContent = `Could not load the gradients of this layer: ${error.message}`;
      panel.gradCaption.classList.add("error");
    }
  }

  changeSettings(change) {
    Object.assign(this.settings, change);
    this.saveSettings();
    this.legendHolder.replaceChildren(views.legend(this.settings));
    this.redraw();
  }

  redraw() {
    if (!this.tags) return;
    for (const panel of this.visiblePanels()) if (panel.series) panel.draw(this.settings);
    this.updateOverview();
  }

  updateOverview() {
    const rows = this.selectedRuns().map((run) => ({
      run,
      layers: panelLayers(this.tags[run], layersInModelOrder(this.tags[run])).map(({ tag }) => {
        const panel = this.panels.get(JSON.stringify([run, tag]));
        return panel ? panel.latestCounts(this.settings) : { tag, pending: true };
      }),
    }));
    this.overviewHolder.replaceChildren(
      rows.length
        ? views.overview(rows, this.settings, (run, tag) => this.panels.get(JSON.stringify([run, tag]))?.element.scrollIntoView({ behavior: "smooth" }))
        : "",
    );
  }
}

/** Adds the tab's stylesheet and resolves when it has loaded (so sizes measure right). */
function addStylesheet() {
  return new Promise((resolve) => {
    const link = el("link", { rel: "stylesheet", href: new URL("styles.css", import.meta.url).href });
    link.addEventListener("load", resolve);
    link.addEventListener("error", resolve);
    document.head.append(link);
  });
}

/** Called by TensorBoard's plugin_entry.html once the module has loaded. */
export async function render() {
  performance.mark("deadrelu:render");
  await addStylesheet();
  const root = el("div", { class: "deadrelu" });
  document.body.replaceChildren(root);
  // Routes are relative to the document's <base href="plugin/deadrelu/">, not to this module's URL.
  const app = new App(root, new Api(document.baseURI));
  listenForReloads(() => app.refresh());
  await app.refresh();
  return app;
}
