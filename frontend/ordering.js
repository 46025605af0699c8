/**
 * The one order of names: layers in a run, and runs in a logdir. The same rule
 * as tensorboard_plugin_deadrelu/core/ordering.py (its docstring states it),
 * checked against the same golden vectors (tests/golden/ordering_vectors.json).
 * No DOM here.
 */

const isDigit = (code) => code >= 48 && code <= 57;
const isLetterOrDigit = (code) => isDigit(code) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
const DOT = 46;
const NUMBER = /^([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/;

/** Index of the first code unit at or after `i` that is not an ASCII digit. */
function digitsEnd(name, i) {
  while (i < name.length && isDigit(name.charCodeAt(i))) i++;
  return i;
}

/** The tokens of `name` in order, as {number, text} with `text` the source substring. */
export function tokenize(name) {
  const tokens = [];
  const n = name.length;
  let i = 0;
  // Only ASCII characters start or end a token, so a surrogate pair is never split.
  while (i < n) {
    const start = i;
    if (!isDigit(name.charCodeAt(i))) {
      while (i < n && !isDigit(name.charCodeAt(i))) i++;
      tokens.push({ number: false, text: name.slice(start, i) });
      continue;
    }
    i = digitsEnd(name, i);
    if (i + 1 < n && name.charCodeAt(i) === DOT && isDigit(name.charCodeAt(i + 1)) && !(start > 0 && name.charCodeAt(start - 1) === DOT)) {
      const end = digitsEnd(name, i + 1);
      if (!(end < n && name.charCodeAt(end) === DOT)) i = end;
    }
    if (i < n && (name[i] === "e" || name[i] === "E")) {
      const digits = i + 1 < n && (name[i + 1] === "+" || name[i + 1] === "-") ? i + 2 : i + 1;
      const end = digitsEnd(name, digits);
      if (end > digits && !(end < n && isLetterOrDigit(name.charCodeAt(end)))) i = end;
    }
    tokens.push({ number: true, text: name.slice(start, i) });
  }
  return tokens;
}

/**
 * The exact value of a number token: {zero: true} or 0.D × 10^E as
 * {zero: false, scale: E (a BigInt: exponents have any length), digits: D}.
 */
function numberValue(text) {
  const [, integer, fraction = "", exponent = "0"] = NUMBER.exec(text);
  const all = integer + fraction;
  const significant = all.replace(/^0+/, "");
  if (!significant) return { zero: true, scale: 0n, digits: "" };
  const leadingZeros = all.length - significant.length;
  const scale = BigInt(integer.length) + BigInt(exponent) - BigInt(leadingZeros);
  return { zero: false, scale, digits: significant.replace(/0+$/, "") };
}

/** Lowers A-Z only, so no locale's or Unicode version's case rules come in. */
function asciiLower(text) {
  return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/** -1/0/1 comparing strings by code points (not UTF-16 code units, as `<` does). */
export function compareCodePoints(a, b) {
  let i = 0;
  while (i < a.length && i < b.length) {
    const x = a.codePointAt(i);
    const y = b.codePointAt(i);
    if (x !== y) return x < y ? -1 : 1;
    i += x > 0xffff ? 2 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

const sign = (x, y) => (x < y ? -1 : x > y ? 1 : 0);

/** The comparable form of a name: its tokens' keys, and the name for the final tie-break. */
function nameKey(name) {
  return {
    name,
    tokens: tokenize(name).map((t) => (t.number ? { number: true, ...numberValue(t.text) } : { number: false, text: asciiLower(t.text) })),
  };
}

function compareTokens(a, b) {
  if (a.number !== b.number) return a.number ? -1 : 1;
  if (!a.number) return compareCodePoints(a.text, b.text);
  if (a.zero || b.zero) return sign(!a.zero, !b.zero);
  // Digit strings without leading zeros at the same scale: string order is numeric order.
  return sign(a.scale, b.scale) || sign(a.digits, b.digits);
}

function compareKeys(a, b) {
  const n = Math.min(a.tokens.length, b.tokens.length);
  for (let i = 0; i < n; i++) {
    const c = compareTokens(a.tokens[i], b.tokens[i]);
    if (c) return c;
  }
  return sign(a.tokens.length, b.tokens.length) || compareCodePoints(a.name, b.name);
}

/**
 * -1/0/1: the order of runs and layer names, as people read them (`dense_2`
 * before `dense_10`, `conv` before `Dense_1`, `lr0.001` before `lr0.01`).
 */
export function compareNames(a, b) {
  return compareKeys(nameKey(a), nameKey(b));
}

/**
 * -1/0/1: the order of layers given as {tag, order}: by their position in the
 * model (`order`; layers without one last), then by compareNames of the tag.
 */
export function compareLayers(a, b) {
  const oa = a.order ?? null;
  const ob = b.order ?? null;
  if ((oa === null) !== (ob === null)) return oa === null ? 1 : -1;
  return (oa === null ? 0 : sign(oa, ob)) || compareNames(a.tag, b.tag);
}

/** `names` sorted by compareNames (a new array; each name is tokenized once). */
export function sortNames(names) {
  return names
    .map(nameKey)
    .sort(compareKeys)
    .map((key) => key.name);
}
