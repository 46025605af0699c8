/**
 * The runs table at the top of the tab: one row per (filtered) run of a sweep
 * with its numbers at the latest step, from the `runs_summary` route (one
 * request for every run). Sorting is pure (sortRows, unit-tested); RunsTable
 * builds the DOM: headers are buttons that sort, rows are focusable and a
 * click, Enter or Space picks the run.
 */

import { el, percent } from "./dom.js";
import { compareNames } from "./ordering.js";

/**
 * The table's columns: `key` of the route's row, header `label`, `numeric`
 * (sorted worst first on the first click), `title` (header tooltip) and how a
 * cell reads (`text(row)`).
 */
export const COLUMNS = [
  { key: "run", label: "run", numeric: false, title: "run name", text: (r) => r.run },
  { key: "layers", label: "layers", numeric: true, title: "ReLU layers with records", text: (r) => String(r.layers) },
  { key: "units", label: "units", numeric: true, title: "units over all layers", text: (r) => String(r.units) },
  { key: "dead", label: "dead", numeric: true, title: "dead units at the latest step", text: (r) => String(r.dead) },
  { key: "dead_share", label: "dead %", numeric: true, title: "share of all units dead at the latest step", text: (r) => shareText(r.dead_share) },
  { key: "worst_layer", label: "worst layer", numeric: false, title: "the layer with the largest share of dead units", text: (r) => r.worst_layer ?? "–" },
  { key: "worst_share", label: "worst %", numeric: true, title: "dead share of the worst layer", text: (r) => shareText(r.worst_share) },
  { key: "first_death_step", label: "first death", numeric: true, title: "first step at which any unit was dead", text: (r) => (r.first_death_step == null ? "never" : String(r.first_death_step)) },
  { key: "zero_gradient_units", label: "zero grad.", numeric: true, title: "units whose gradient was 0 on every probe input at the latest step (only with gradient records)", text: (r) => (r.zero_gradient_units == null ? "–" : String(r.zero_gradient_units)) },
  { key: "last_step", label: "last step", numeric: true, title: "latest step", text: (r) => (r.last_step == null ? "–" : String(r.last_step)) },
  { key: "source", label: "from", numeric: false, title: "scalars: the dead_fraction scalars the monitor wrote; records: the records themselves", text: (r) => r.source ?? "–" },
];

const COLUMN = new Map(COLUMNS.map((c) => [c.key, c]));

function shareText(share) {
  return share == null ? "–" : percent(share, 1);
}

/** The default sort: runs in the one order of names. */
export const DEFAULT_TABLE_SORT = Object.freeze({ key: "run", descending: false });

/** Whether `sort` names a known column ({key, descending}). */
export function isTableSort(sort) {
  return Boolean(sort) && COLUMN.has(sort.key) && typeof sort.descending === "boolean";
}

/**
 * The sort after a click on column `key`: the same column flips direction; a
 * new numeric column starts descending (the worst runs on top), a text column ascending.
 */
export function nextSort(sort, key) {
  if (sort && sort.key === key) return { key, descending: !sort.descending };
  return { key, descending: COLUMN.get(key)?.numeric ?? false };
}

/**
 * `rows` sorted by column `key` (a new array): numbers by value, names by the
 * one order of names (ordering.js); missing values (null) last in both
 * directions; ties by run name.
 */
export function sortRows(rows, { key, descending }) {
  const numeric = COLUMN.get(key)?.numeric ?? false;
  const direction = descending ? -1 : 1;
  return rows.slice().sort((a, b) => {
    const x = a[key];
    const y = b[key];
    const xMissing = x == null;
    const yMissing = y == null;
    if (xMissing !== yMissing) return xMissing ? 1 : -1;
    let c = 0;
    if (!xMissing) c = numeric ? (x < y ? -1 : x > y ? 1 : 0) : compareNames(String(x), String(y));
    return direction * c || compareNames(a.run, b.run);
  });
}

export class RunsTable {
  /**
   * `onPick(run)`: a row was clicked (or Enter / Space on it); `onSort(sort)`:
   * the user sorted by a column.
   */
  constructor(onPick, onSort) {
    this.onPick = onPick;
    this.onSort = onSort;
    this.rows = [];
    this.sort = DEFAULT_TABLE_SORT;
    this.title = el("span", { class: "runs-table-title", text: "Runs" });
    this.note = el("span", { class: "runs-table-note" });
    this.head = el("tr");
    this.body = el("tbody");
    this.table = el("table", { class: "runs-table" }, el("thead", {}, this.head), this.body);
    this.element = el(
      "section",
      { class: "runs-table-holder", "aria-label": "runs" },
      el("div", { class: "runs-table-head" }, this.title, this.note),
      el("div", { class: "runs-table-scroll" }, this.table),
    );
    this.body.addEventListener("click", (event) => {
      const row = event.target.closest("tr[data-run]");
      if (row) this.onPick(row.dataset.run);
    });
    this.body.addEventListener("keydown", (event) => {
      const row = event.target.closest("tr[data-run]");
      if (!row) return;
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        this.onPick(row.dataset.run);
      } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        (event.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling)?.focus();
      }
    });
  }

  /**
   * Shows `rows` (the route's rows of the runs passing the run filter), with
   * `selected` runs marked; `state` is "loading", "error" (with `message`) or "ready".
   */
  update({ rows, selected, sort, state, message = "", total = rows.length }) {
    this.last = { rows, selected, state, message, total };
    this.rows = rows;
    this.sort = isTableSort(sort) ? sort : DEFAULT_TABLE_SORT;
    this.element.dataset.state = state;
    this.title.textContent = total === rows.length ? `Runs (${rows.length})` : `Runs (${rows.length} of ${total} match the filter)`;
    this.note.textContent =
      state === "loading"
        ? "loading…"
        : state === "error"
          ? `could not load the runs table: ${message}`
          : "numbers at each run's latest step · click a header to sort, a row to show that run";
    this.note.classList.toggle("error", state === "error");
    this.drawHead();
    const chosen = new Set(selected);
    const focusedRun = this.body.contains(document.activeElement) ? document.activeElement.dataset.run : null;
    this.body.replaceChildren(
      ...sortRows(rows, this.sort).map((row) => {
        const isSelected = chosen.has(row.run);
        const tr = el(
          "tr",
          { tabindex: "0", "aria-selected": String(isSelected), class: isSelected ? "selected" : null, dataset: { run: row.run }, title: `show run ${row.run}` },
          ...COLUMNS.map((c) => el("td", { class: `col-${c.key}${c.numeric ? " numeric" : ""}`, dataset: { key: c.key }, text: c.text(row) })),
        );
        return tr;
      }),
    );
    if (focusedRun != null) [...this.body.rows].find((tr) => tr.dataset.run === focusedRun)?.focus();
  }

  drawHead() {
    this.head.replaceChildren(
      ...COLUMNS.map((c) => {
        const sorted = this.sort.key === c.key;
        const arrow = sorted ? (this.sort.descending ? " ▾" : " ▴") : "";
        const button = el("button", { type: "button", class: "sort-button", dataset: { key: c.key }, title: `sort by ${c.title}`, text: c.label + arrow });
        button.addEventListener("click", () => {
          this.sort = nextSort(this.sort, c.key);
          this.onSort(this.sort);
          this.update({ ...this.last, sort: this.sort });
          this.head.querySelector(`button[data-key="${c.key}"]`)?.focus();
        });
        return el("th", { class: c.numeric ? "numeric" : null, "aria-sort": sorted ? (this.sort.descending ? "descending" : "ascending") : "none" }, button);
      }),
    );
  }
}
