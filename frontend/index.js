/**
 * Entry point of the Dead ReLU tab. TensorBoard loads this module inside the
 * tab's iframe (data/plugin_entry.html?name=deadrelu) and calls `render()`.
 *
 * The App keeps the user's choices (runs, metric, thresholds, sort, filter,
 * collapsed runs) across TensorBoard's data reloads and in localStorage, draws
 * the whole-network view of the selected runs from the `overview` route, and
 * builds one panel per layer that fetches and draws its heatmaps only when it
 * scrolls into view. Panels far off screen give their arrays back once the
 * tab holds more than CELL_BUDGET cells; a deselected run's panels are dropped.
 */

import { GRAD_MAGNITUDE, GRAD_ZEROS, orphanGradientTags, panelLayers } from "./gradients.js";
import { listenForReloads } from "./host.js";
import { Api, ApiError, dataVersion, layerFilter, layersInModelOrder, sortedRuns } from "./model.js";
import { NetworkView } from "./networkview.js";
import { DEFAULT_TABLE_SORT, RunsTable, isTableSort } from "./runstable.js";
import { LayerPanel } from "./panel.js";
import { el } from "./dom.js";
import { DEFAULT_TAU, DEFAULT_THRESHOLD, METRIC_DORMANT, METRIC_ZEROS, SORT_DEATH, SORT_INDEX, SORT_LATEST } from "./stats.js";
import * as views from "./views.js";

const STORAGE_KEY = "deadrelu.settings.v1";
/** Runs shown when the user has not chosen yet. */
const DEFAULT_RUN_COUNT = 4;
/** Requests in flight at once (TensorBoard serves them from one process). */
const PARALLEL_REQUESTS = 4;
/**
 * Heatmap cells (steps x units, activations and gradients) the tab keeps in
 * memory, about 15 bytes each once analysed: beyond it, panels off screen give
 * their data back, least recently seen first. Panels on screen are never
 * released, whatever their size (a 4,096 x 1,000 layer alone is 4.1 M cells).
 */
const CELL_BUDGET = 3_000_000;
/** How far below (and above) the window a panel starts loading. */
const PRELOAD_MARGIN = "400px 0px";

export const DEFAULT_SETTINGS = Object.freeze({
  runs: null, // null: the first DEFAULT_RUN_COUNT runs
  metric: METRIC_ZEROS,
  tau: DEFAULT_TAU,
  threshold: DEFAULT_THRESHOLD,
  sort: SORT_INDEX,
  chartScale: "count",
  gradient: GRAD_ZEROS,
  filter: "",
  runFilter: "",
  tableSort: DEFAULT_TABLE_SORT,
  collapsed: [],
});

const isStringArray = (value) => Array.isArray(value) && value.every((r) => typeof r === "string");

/** Settings from localStorage, falling back field by field to the defaults. */
function loadSettings(storage) {
  let saved = {};
  try {
    saved = JSON.parse(storage?.getItem(STORAGE_KEY) || "{}") || {};
  } catch (_) {
    // A corrupt or foreign value: start from the defaults.
  }
  const s = { ...DEFAULT_SETTINGS };
  if (isStringArray(saved.runs)) s.runs = saved.runs;
  if ([METRIC_ZEROS, METRIC_DORMANT].includes(saved.metric)) s.metric = saved.metric;
  if (Number.isFinite(saved.tau) && saved.tau >= 0) s.tau = saved.tau;
  if (Number.isFinite(saved.threshold) && saved.threshold > 0 && saved.threshold <= 1) s.threshold = saved.threshold;
  if ([SORT_INDEX, SORT_DEATH, SORT_LATEST].includes(saved.sort)) s.sort = saved.sort;
  if (["count", "percent"].includes(saved.chartScale)) s.chartScale = saved.chartScale;
  if ([GRAD_ZEROS, GRAD_MAGNITUDE].includes(saved.gradient)) s.gradient = saved.gradient;
  if (typeof saved.filter === "string") s.filter = saved.filter;
  if (typeof saved.runFilter === "string") s.runFilter = saved.runFilter;
  if (isTableSort(saved.tableSort)) s.tableSort = { key: saved.tableSort.key, descending: saved.tableSort.descending };
  if (isStringArray(saved.collapsed)) s.collapsed = saved.collapsed;
  return s;
}

const panelKey = (run, tag) => JSON.stringify([run, tag]);

export class App {
  constructor(root, api, storage = globalThis.localStorage) {
    this.root = root;
    this.api = api;
    this.storage = storage;
    this.settings = loadSettings(storage);
    this.filter = layerFilter(this.settings.filter);
    this.runFilter = layerFilter(this.settings.runFilter);
    /** The `runs_summary` answer: {key (the listing it belongs to), rows, error}. */
    this.summary = { key: null, rows: null, error: null };
    /** LayerPanel per [run, tag] of the selected runs; element -> panel for the observer. */
    this.panels = new Map();
    this.panelOf = new WeakMap();
    /** Per selected run: {key, overview, error} of its `overview` answer. */
    this.overviews = new Map();
    /** Per run section: {element, panels, notes, count} (see buildSections). */
    this.sections = new Map();
    this.tags = null;
    this.shownAt = null;
    this.generation = 0;
    this.queue = new Set();
    this.active = 0;
    this.observerPending = false;

    this.tooltip = el("div", { class: "tooltip", hidden: "" });
    this.runBar = el("div", { class: "run-bar" });
    this.controlBar = el("div", { class: "control-bar" });
    this.legendHolder = el("div", { class: "legend-holder" });
    this.messages = el("div", { class: "messages" });
    this.network = new NetworkView(this.tooltip, (run, tag) => this.focusLayer(run, tag));
    this.networkHolder = el("div", { class: "network-holder" });
    this.runsHolder = el("div", { class: "run-sections" });
    this.runsTable = new RunsTable(
      (run) => this.pickRun(run),
      (sort) => {
        this.settings.tableSort = sort;
        this.saveSettings();
      },
    );
    this.runFilterInput = views.filterInput(this.settings.runFilter, (text) => this.changeRunFilter(text), {
      name: "run-filter",
      placeholder: "Filter runs (regular expression)",
      label: "filter runs by regular expression",
    });
    this.runFilterInput.showError(this.runFilter.error);
    this.runList = el("div", { class: "run-list-holder" });
    this.runBar.append(this.runFilterInput.element, this.runList);
    this.runsTable.element.hidden = true;
    this.toolbar = el("header", { class: "toolbar" }, this.runBar, this.controlBar, this.legendHolder);
    this.root.replaceChildren(this.toolbar, this.messages, this.runsTable.element, this.networkHolder, this.runsHolder, this.tooltip);
    this.filterInput = views.filterInput(this.settings.filter, (text) => this.changeFilter(text));
    this.controlBar.append(views.controls(this.settings, (change) => this.changeSettings(change)), this.filterInput.element);
    this.filterInput.showError(this.filter.error);
    this.legendHolder.append(views.legend(this.settings));
    this.legendShowsRecycled = false;
    // root: document, not the implicit root: inside TensorBoard's iframe that is
    // the top window's viewport, which the iframe clips, so rootMargin did nothing.
    this.observer = new IntersectionObserver((entries) => this.onIntersect(entries), { root: document, rootMargin: PRELOAD_MARGIN });
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

  /** The runs passing the run filter, in the one order of names. */
  matchingRuns() {
    return sortedRuns(this.tags || {}).filter((run) => this.runFilter.matches(run));
  }

  /** The runs shown: those chosen (or the first few) among the runs passing the run filter. */
  selectedRuns() {
    const all = sortedRuns(this.tags || {});
    const runs = all.filter((run) => this.runFilter.matches(run));
    const chosen = this.settings.runs == null ? null : new Set(this.settings.runs);
    // A choice made for another logdir (same TensorBoard address) matches none of
    // these runs: show the default rather than an empty page. "none" stays none.
    if (chosen == null || (chosen.size > 0 && !all.some((run) => chosen.has(run)))) {
      return runs.slice(0, DEFAULT_RUN_COUNT);
    }
    return runs.filter((run) => chosen.has(run));
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
  async refresh(afterLayout = null) {
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
    await this.show(generation, afterLayout);
  }

  /**
   * Draws the run list, runs table, whole-network view and panels for the
   * listing in this.tags; `afterLayout()` runs once they are on the page
   * (before the whole-network answers are in).
   */
  async show(generation, afterLayout = null) {
    this.setState("loading");
    const tags = this.tags;
    const runs = sortedRuns(tags);
    /** When the data on screen was listed; null while no panels are shown. */
    this.shownAt = runs.length ? new Date() : null;
    // Controls without data would only distract from the empty-state help.
    this.toolbar.hidden = !runs.length;
    const selected = this.selectedRuns();
    this.dropPanels(selected);
    if (!runs.length) {
      this.selectorKey = this.sectionsKey = null;
      this.runList.replaceChildren();
      this.runsTable.element.hidden = true;
      this.networkHolder.replaceChildren();
      this.runsHolder.replaceChildren(views.emptyState());
      this.setState("empty");
      return;
    }
    const matching = this.matchingRuns();
    const selectorKey = JSON.stringify([matching, selected, runs.length]);
    if (selectorKey !== this.selectorKey) {
      this.selectorKey = selectorKey;
      this.runList.replaceChildren(views.runSelector(matching, selected, (chosen) => this.chooseRuns(chosen), runs.length));
    }
    this.runsTable.element.hidden = false;
    this.loadSummary(generation);
    // The gradient colour control only matters when some shown layer has gradients.
    const gradientControl = this.controlBar.querySelector(".gradient-control");
    if (gradientControl) gradientControl.hidden = !selected.some((run) => panelLayers(tags[run], Object.keys(tags[run])).some((l) => l.gradientTag));
    this.buildSections(selected);
    // Panels on screen load beside the whole-network view's requests, not after them.
    for (const panel of this.panels.values()) if (panel.onScreen) this.want(panel);
    const network = this.showNetwork(selected, generation);
    if (afterLayout) afterLayout();
    await network;
    if (generation !== this.generation) return;
    this.setState("ready");
    this.checkIdle();
  }

  /** Shows `chosen` runs (of those passing the run filter); saved across reloads. */
  chooseRuns(chosen) {
    this.settings.runs = chosen;
    this.saveSettings();
    // As before the run filter existed: a new choice also brings the newest listing.
    this.refresh();
  }

  /** The runs table's click on a row: shows the run (adding it to the shown runs) and scrolls to its whole-network view. */
  pickRun(run) {
    const scroll = () => {
      const block = this.networkHolder.querySelector(`.network-run[data-run="${CSS.escape(run)}"]`);
      if (!block) return;
      block.style.scrollMarginTop = `${this.toolbar.offsetHeight + 8}px`;
      block.scrollIntoView({ block: "start" });
    };
    const selected = this.selectedRuns();
    if (selected.includes(run)) {
      scroll();
      return;
    }
    this.settings.runs = [...selected, run];
    this.saveSettings();
    this.refresh(scroll);
  }

  /** Fetches the `runs_summary` once per listing (not per filter change) and draws the runs table. */
  async loadSummary(generation) {
    const key = JSON.stringify(Object.entries(this.tags).map(([run, infos]) => [run, Object.values(infos).map(dataVersion)]));
    if (this.summary.key !== key) {
      this.summary = { key, rows: null, error: null };
      this.drawTable();
      try {
        const body = await this.api.runsSummary();
        if (this.summary.key === key) this.summary.rows = body.runs;
      } catch (error) {
        if (this.summary.key === key) this.summary.error = error.message;
      }
    }
    this.drawTable();
  }

  drawTable() {
    const { rows, error } = this.summary;
    const matching = rows ? rows.filter((row) => this.runFilter.matches(row.run)) : [];
    this.runsTable.update({
      rows: matching,
      total: rows ? rows.length : 0,
      selected: this.selectedRuns(),
      sort: this.settings.tableSort,
      state: error ? "error" : rows ? "ready" : "loading",
      message: error || "",
    });
  }

  changeRunFilter(text) {
    this.settings.runFilter = text;
    this.saveSettings();
    this.runFilter = layerFilter(text);
    this.runFilterInput.showError(this.runFilter.error);
    if (this.tags) this.show(++this.generation);
  }

  /**
   * Disposes of the panels of runs that are not among `selected` or of layers no
   * longer listed (their arrays, listeners and elements), and of the
   * whole-network data of such runs.
   */
  dropPanels(selected) {
    for (const [key, panel] of this.panels) {
      const infos = this.tags[panel.run];
      if (selected.includes(panel.run) && infos && infos[panel.tag]) continue;
      this.observer.unobserve(panel.element);
      this.queue.delete(panel);
      panel.dispose();
      panel.disposed = true;
      this.panels.delete(key);
    }
    for (const run of this.overviews.keys()) if (!selected.includes(run)) this.overviews.delete(run);
  }

  /** Creates the missing panels and (when the layout changed) the run sections, marking outdated data. */
  buildSections(selected) {
    const layout = selected.map((run) => {
      const infos = this.tags[run];
      const panels = panelLayers(infos, layersInModelOrder(infos)).map(({ tag, gradientTag }) => {
        const key = panelKey(run, tag);
        let panel = this.panels.get(key);
        if (!panel) {
          panel = new LayerPanel(run, tag, this.tooltip);
          this.panels.set(key, panel);
          this.panelOf.set(panel.element, panel);
        }
        panel.setGradientTag(gradientTag);
        panel.info = infos[tag];
        panel.gradientInfo = gradientTag ? infos[gradientTag] : null;
        panel.failed = false;
        panel.setRecycled(this.recycledOf(run, tag));
        if (!panel.series) panel.estimateSize(infos[tag].units);
        return panel;
      });
      return { run, infos, panels };
    });
    // Rebuilding the same sections would detach them for a moment and make the
    // page jump to the top on every auto-reload; only rebuild when they changed.
    const sectionsKey = JSON.stringify(layout.map(({ run, infos, panels }) => [run, panels.map((p) => p.tag), orphanGradientTags(infos)]));
    if (sectionsKey !== this.sectionsKey) {
      this.sectionsKey = sectionsKey;
      this.sections.clear();
      this.runsHolder.replaceChildren(
        ...layout.map(({ run, infos, panels }) => {
          const section = views.runSection(run, panels.map((p) => p.element), views.orphanGradientsNote(run, infos), () => this.toggleRun(run));
          this.sections.set(run, { ...section, panels, downsampled: new Map() });
          return section.element;
        }),
      );
      if (!selected.length) this.runsHolder.append(el("p", { class: "message", text: "Select one or more runs above." }));
      this.observerPending = true;
      this.root.dataset.loads = "busy";
      // Observing anew makes the observer report every panel once, moved or not.
      for (const { panels } of layout) {
        for (const panel of panels) {
          this.observer.unobserve(panel.element);
          this.observer.observe(panel.element);
        }
      }
    }
    this.applyFilterAndCollapse();
  }

  /** Shows only the panels whose tag matches the filter, in runs that are not collapsed. */
  applyFilterAndCollapse() {
    for (const [run, section] of this.sections) {
      const collapsed = this.settings.collapsed.includes(run);
      let shown = 0;
      for (const panel of section.panels) {
        const match = this.filter.matches(panel.tag);
        panel.element.hidden = !match;
        shown += match;
      }
      section.setState({ collapsed, shown, total: section.panels.length, filtered: Boolean(this.settings.filter) && !this.filter.error });
    }
  }

  /** Fetches the `overview` of the selected runs whose data changed, and draws the whole-network view. */
  async showNetwork(selected, generation) {
    const jobs = selected.map((run) => async () => {
      const key = JSON.stringify([this.settings.tau, Object.entries(this.tags[run]).map(([tag, info]) => [tag, dataVersion(info)])]);
      const known = this.overviews.get(run);
      if (known && known.key === key && !known.error) return;
      try {
        const overview = await this.api.overview(run, { threshold: this.settings.threshold, tau: this.settings.tau });
        if (generation === this.generation) this.overviews.set(run, { key, overview, error: null });
      } catch (error) {
        if (generation === this.generation) this.overviews.set(run, { key, overview: null, error: error.message });
      }
      // Each run as soon as its answer is in: a cold server reads every record of a run for it.
      if (generation === this.generation) this.drawNetwork(selected);
    });
    this.drawNetwork(selected);
    await runPool(jobs, PARALLEL_REQUESTS);
  }

  drawNetwork(selected = this.selectedRuns()) {
    if (!selected.length) {
      this.networkHolder.replaceChildren();
      return;
    }
    if (this.network.element.parentNode !== this.networkHolder) this.networkHolder.replaceChildren(this.network.element);
    const entries = selected.map((run) => ({ run, ...(this.overviews.get(run) || { overview: null, error: null }) }));
    this.network.update(entries, this.settings.metric, this.filter.matches);
    this.applyRecycled(selected);
  }

  /** The overview's `recycled` list of a layer ([[step, [unit, ...]], ...]), or null (none, or no overview yet). */
  recycledOf(run, tag) {
    const layers = this.overviews.get(run)?.overview?.layers;
    return layers?.find((layer) => layer.tag === tag)?.recycled ?? null;
  }

  /**
   * Hands each panel of `selected` runs its recycled units from the overview
   * (the panels need no request of their own), redrawing the panels whose list
   * changed, and shows the marker in the legend when some layer has them.
   */
  applyRecycled(selected) {
    for (const panel of this.panels.values()) {
      if (!selected.includes(panel.run) || !this.overviews.get(panel.run)?.overview) continue;
      if (!panel.setRecycled(this.recycledOf(panel.run, panel.tag)) || !panel.series) continue;
      if (panel.onScreen) panel.draw(this.settings);
      else panel.dirty = true;
    }
    const recycled = [...this.panels.values()].some((panel) => panel.recycled);
    if (recycled !== this.legendShowsRecycled) this.drawLegend();
  }

  drawLegend() {
    this.legendShowsRecycled = [...this.panels.values()].some((panel) => panel.recycled);
    this.legendHolder.replaceChildren(views.legend(this.settings, { recycled: this.legendShowsRecycled }));
  }

  /** The whole-network view's click: opens the layer's run if collapsed and scrolls its panel into view. */
  focusLayer(run, tag) {
    const panel = this.panels.get(panelKey(run, tag));
    if (!panel) return;
    if (this.settings.collapsed.includes(run)) this.toggleRun(run);
    // The sticky toolbar would cover the panel's top.
    panel.element.style.scrollMarginTop = `${this.toolbar.offsetHeight + 8}px`;
    panel.element.scrollIntoView({ block: "start" });
    panel.element.classList.remove("focused");
    void panel.element.offsetWidth; // restart the highlight animation
    panel.element.classList.add("focused");
    // Panels around it are drawn next and may change height: keep it in place
    // until they are, unless the user scrolls meanwhile.
    this.focused = panel;
    const release = () => {
      this.focused = null;
      for (const type of ["wheel", "keydown", "mousedown", "touchstart"]) window.removeEventListener(type, release, true);
    };
    for (const type of ["wheel", "keydown", "mousedown", "touchstart"]) window.addEventListener(type, release, true);
    setTimeout(release, 5000);
  }

  /** Scrolls the panel last opened from the whole-network view back to the top after a panel's size changed. */
  keepFocus() {
    if (this.focused && !this.focused.disposed) this.focused.element.scrollIntoView({ block: "start" });
  }

  toggleRun(run) {
    const collapsed = new Set(this.settings.collapsed);
    if (collapsed.has(run)) collapsed.delete(run);
    else collapsed.add(run);
    this.settings.collapsed = [...collapsed];
    this.saveSettings();
    this.applyFilterAndCollapse();
  }

  changeFilter(text) {
    this.settings.filter = text;
    this.saveSettings();
    this.filter = layerFilter(text);
    this.filterInput.showError(this.filter.error);
    if (!this.tags) return;
    this.applyFilterAndCollapse();
    this.drawNetwork();
  }

  // --- Loading panels as they scroll into view ---------------------------

  onIntersect(entries) {
    this.observerPending = false;
    const now = performance.now();
    for (const entry of entries) {
      const panel = this.panelOf.get(entry.target);
      if (!panel || panel.disposed) continue;
      panel.onScreen = entry.isIntersecting;
      panel.lastSeen = now;
      if (panel.onScreen) {
        if (panel.dirty && panel.series) {
          panel.dirty = false;
          panel.draw(this.settings);
        }
        this.want(panel);
      }
    }
    this.checkIdle();
  }

  /** The next thing `panel` needs loaded ("series", "details", "gradients"), or null. */
  nextLoad(panel) {
    if (panel.failed || panel.disposed) return null;
    if (!panel.series || panel.loadedVersion !== dataVersion(panel.info)) return "series";
    if (!panel.series.absSum) return "details";
    if (panel.gradientTag && panel.gradientVersion !== dataVersion(panel.gradientInfo)) return "gradients";
    return null;
  }

  /** Queues `panel` for loading if it needs something. */
  want(panel) {
    if (!this.nextLoad(panel)) return;
    this.queue.add(panel);
    this.pump();
  }

  /** Starts queued loads up to PARALLEL_REQUESTS, on-screen panels first, activations before details and gradients. */
  pump() {
    const phases = ["series", "details", "gradients"];
    while (this.active < PARALLEL_REQUESTS && this.queue.size) {
      let best = null;
      let bestRank = Infinity;
      for (const panel of this.queue) {
        const next = this.nextLoad(panel);
        if (!next || !panel.onScreen) {
          this.queue.delete(panel);
          continue;
        }
        const rank = phases.indexOf(next);
        if (rank < bestRank) [best, bestRank] = [panel, rank];
      }
      if (!best) break;
      this.queue.delete(best);
      this.active++;
      this.root.dataset.loads = "busy";
      delete this.root.dataset.details;
      delete this.root.dataset.gradients;
      const phase = phases[bestRank];
      this.load(best, phase).finally(() => {
        this.active--;
        if (!best.disposed && best.onScreen && this.nextLoad(best)) this.queue.add(best);
        this.pump();
        this.checkIdle();
      });
    }
    this.checkIdle();
  }

  /** Marks the root when nothing on screen is loading (tests and benchmarks wait for it). */
  checkIdle() {
    if (this.active || this.queue.size || this.observerPending || this.root.dataset.state !== "ready") return;
    this.root.dataset.loads = "idle";
    this.root.dataset.details = "loaded";
    this.root.dataset.gradients = "loaded";
  }

  async load(panel, phase) {
    const version = dataVersion(phase === "gradients" ? panel.gradientInfo : panel.info);
    try {
      if (phase === "series") {
        panel.mount();
        const series = await this.api.series(panel.run, panel.tag);
        if (panel.disposed) return;
        panel.mount();
        panel.setSeries(series);
        panel.loadedVersion = version;
        // A new version of the activations needs its gradients aligned again.
        if (panel.gradient) panel.gradientVersion = null;
        this.noteDownsampled(panel.run, panel.tag, series);
        panel.draw(this.settings);
        this.keepFocus();
        this.releaseOffScreen();
      } else if (phase === "details") {
        await this.api.loadDetails(panel.series);
        if (panel.disposed || !panel.series) return;
        panel.element.dataset.details = "loaded";
        if (this.settings.metric === METRIC_DORMANT) panel.draw(this.settings);
      } else {
        const series = await this.api.series(panel.run, panel.gradientTag);
        await this.api.loadDetails(series);
        if (panel.disposed || !panel.series) return;
        panel.setGradient(series, panel.gradientInfo);
        panel.gradientVersion = version;
        panel.drawGradient(this.settings);
        this.keepFocus();
        this.releaseOffScreen();
      }
    } catch (error) {
      if (panel.disposed) return;
      panel.failed = true; // tried again on the next reload
      const what = { series: "this layer", details: "mean |activation| for this layer", gradients: "the gradients of this layer" }[phase];
      panel.note.textContent = `Could not load ${what}: ${error.message}`;
      panel.note.hidden = false;
      panel.note.classList.add("error");
    }
  }

  /** Releases the panels least recently on screen while the loaded cells exceed CELL_BUDGET. */
  releaseOffScreen() {
    const loaded = [...this.panels.values()].filter((p) => p.series);
    let cells = loaded.reduce((n, p) => n + p.cells(), 0);
    if (cells <= CELL_BUDGET) return;
    loaded.sort((a, b) => (a.lastSeen || 0) - (b.lastSeen || 0));
    for (const panel of loaded) {
      if (cells <= CELL_BUDGET) break;
      if (panel.onScreen) continue;
      cells -= panel.cells();
      panel.release();
    }
  }

  /** Records that TensorBoard kept only a sample of a layer's steps, and says so in its run's section. */
  noteDownsampled(run, tag, series) {
    const section = this.sections.get(run);
    if (!section) return;
    if (series.downsampled) section.downsampled.set(tag, series.sampleLimit);
    else section.downsampled.delete(tag);
    section.notes.replaceChildren(views.downsampledNote(run, section.downsampled) || "");
  }

  // --- Settings ------------------------------------------------------------

  changeSettings(change) {
    const tauChanged = "tau" in change && change.tau !== this.settings.tau;
    Object.assign(this.settings, change);
    this.saveSettings();
    this.drawLegend();
    this.redraw();
    if (tauChanged) {
      const generation = this.generation;
      this.showNetwork(this.selectedRuns(), generation);
    }
  }

  /** Redraws the whole-network view and the panels on screen; the others when they next scroll into view. */
  redraw() {
    if (!this.tags) return;
    this.drawNetwork();
    for (const panel of this.panels.values()) {
      if (!panel.series) continue;
      if (panel.onScreen) panel.draw(this.settings);
      else panel.dirty = true;
    }
  }
}

/** Runs `jobs` (functions returning promises) with at most `limit` running at once. */
async function runPool(jobs, limit) {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await jobs[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
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
