/**
 * A tiny DOM builder. Text is only ever set through textContent, so run and
 * layer names (which come from folder names and user code) are never parsed as HTML.
 */

/**
 * Creates an element. `props`: `class`, `text`, `style` (object), `on` ({event:
 * handler}), `dataset` (object); any other key is set as an attribute.
 * Children may be nodes, strings (as text) or null (skipped).
 */
export function el(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null) continue;
    if (key === "class") element.className = value;
    else if (key === "text") element.textContent = value;
    else if (key === "style") Object.assign(element.style, value);
    else if (key === "on") for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(key, value);
  }
  for (const child of children) {
    if (child == null) continue;
    element.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return element;
}

/** Formats a share as a percentage with one decimal ("18.8%"). */
export function percent(part, whole) {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : "–";
}

/**
 * Fills the shared `tooltip` element with rows of [key, value] text and shows it
 * next to the pointer of `event`, inside the window.
 */
export function showTooltip(tooltip, lines, event) {
  tooltip.replaceChildren(
    ...lines.map(([k, v]) => el("div", { class: "tooltip-row" }, el("span", { class: "tooltip-key", text: k }), el("span", { class: "tooltip-value", text: v }))),
  );
  tooltip.hidden = false;
  const pad = 14;
  const box = tooltip.getBoundingClientRect();
  let left = event.clientX + pad;
  let top = event.clientY + pad;
  if (left + box.width > window.innerWidth) left = event.clientX - box.width - pad;
  if (top + box.height > window.innerHeight) top = Math.max(0, event.clientY - box.height - pad);
  tooltip.style.left = `${left}px`;
  tooltip.style.top = `${top}px`;
}
