/**
 * Talking to the plugin's HTTP API (see the README's API section): fetching JSON
 * and the binary heatmap format, decoding it into typed arrays, and ordering layers.
 * No DOM here.
 */

import { compareLayers, sortNames } from "./ordering.js";

/** An answer of the API that is not what the tab asked for; `message` is for the user. */
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

const DTYPES = {
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  float32: Float32Array,
};

/**
 * Float64Array with the values of a BigUint64Array. Counts reach 2^32 and more
 * (an epoch of ImageNet through a stem convolution: ~1.6e10 per unit); a double
 * holds every integer below 2^53 exactly, so zeros == count stays an exact test.
 */
export function uint64ToFloat64(big) {
  const out = new Float64Array(big.length);
  for (let i = 0; i < big.length; i++) out[i] = Number(big[i]);
  return out;
}

// Typed arrays use the platform's byte order; the format is little-endian.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Decodes the binary heatmap format: uint32 LE header length H, H bytes of JSON
 * header, zero padding to a multiple of 8 bytes, then the row-major array of
 * `header.shape` = [steps, units] in `header.dtype`.
 * Returns { header, array } where `array` is a typed-array view on `buffer`,
 * except for uint64, which is converted to a Float64Array (see uint64ToFloat64).
 */
export function decodeBinary(buffer) {
  if (!(buffer instanceof ArrayBuffer)) throw new TypeError("decodeBinary needs an ArrayBuffer");
  if (!LITTLE_ENDIAN) throw new Error("big-endian platforms are not supported");
  if (buffer.byteLength < 4) throw new ApiError("binary heatmap too short for its header length");
  const headerLength = new DataView(buffer).getUint32(0, true);
  if (4 + headerLength > buffer.byteLength) {
    throw new ApiError(`binary heatmap header of ${headerLength} bytes overruns the body`);
  }
  let header;
  try {
    header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headerLength)));
  } catch (e) {
    throw new ApiError(`binary heatmap header is not JSON: ${e.message}`);
  }
  const Type = DTYPES[header.dtype];
  if (!Type) throw new ApiError(`binary heatmap has unknown dtype ${JSON.stringify(header.dtype)}`);
  const [steps, units] = header.shape || [];
  if (!Number.isInteger(steps) || !Number.isInteger(units) || steps < 0 || units < 0) {
    throw new ApiError(`binary heatmap has a bad shape ${JSON.stringify(header.shape)}`);
  }
  const offset = Math.ceil((4 + headerLength) / 8) * 8;
  const length = steps * units;
  if (offset + length * Type.BYTES_PER_ELEMENT !== buffer.byteLength) {
    throw new ApiError(
      `binary heatmap body is ${buffer.byteLength} bytes, expected ` +
        `${offset + length * Type.BYTES_PER_ELEMENT} for shape [${steps}, ${units}] ${header.dtype}`,
    );
  }
  const array = new Type(buffer, offset, length);
  return { header, array: Type === BigUint64Array ? uint64ToFloat64(array) : array };
}

/**
 * Returns the tags of one run's `tags` entry in model order: by the writer's
 * `order` (layers without one last), then by the one order of names
 * (ordering.js, the same as the API's and the report's).
 */
export function layersInModelOrder(tagsOfRun) {
  return Object.keys(tagsOfRun)
    .map((tag) => ({ tag, order: tagsOfRun[tag].order }))
    .sort(compareLayers)
    .map((layer) => layer.tag);
}

/**
 * The layer filter: `text` is a regular expression matched anywhere in a
 * layer's tag, case-insensitively, like TensorBoard's own tag filter.
 * Returns {matches(tag), error}: an empty text matches everything; an invalid
 * expression matches everything and `error` says why.
 */
export function layerFilter(text) {
  if (!text) return { matches: () => true, error: null };
  try {
    const pattern = new RegExp(text, "i");
    return { matches: (tag) => pattern.test(tag), error: null };
  } catch (e) {
    return { matches: () => true, error: e.message };
  }
}

/**
 * What identifies the data of one (run, tag) as listed by the `tags` route: a
 * rewritten run can keep its steps and units but never its wall times.
 */
export function dataVersion(info) {
  return info ? JSON.stringify([info.units, info.last_step, info.last_wall_time ?? null, info.steps ?? null]) : null;
}

/** Runs in the one order of names (ordering.js). */
export function sortedRuns(tags) {
  return sortNames(Object.keys(tags));
}

/**
 * The API client. `base` is the URL the routes are relative to: the plugin
 * iframe's document base, `.../data/plugin/deadrelu/` (TensorBoard's
 * plugin_entry.html sets `<base href="plugin/deadrelu/">`).
 */
export class Api {
  constructor(base, fetchImpl = globalThis.fetch.bind(globalThis)) {
    this.base = base;
    this.fetch = fetchImpl;
  }

  url(route, params = {}) {
    const url = new URL(route, this.base);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
    return url;
  }

  async request(route, params) {
    let response;
    try {
      response = await this.fetch(this.url(route, params), { cache: "no-store" });
    } catch (e) {
      throw new ApiError(`cannot reach TensorBoard (${e.message}); is it still running?`);
    }
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try {
        const body = await response.json();
        if (body && typeof body.error === "string") message = `${body.error} (HTTP ${response.status})`;
      } catch (_) {
        // Not a JSON error body (e.g. a proxy's page); the status line says enough.
      }
      throw new ApiError(message, response.status);
    }
    return response;
  }

  /** `{run: {tag: info}}`, see the API's `tags` route. */
  async tags() {
    return (await this.request("tags")).json();
  }

  /**
   * The whole-network data of one run (the `overview` route): per layer in model
   * order its units and, per step, dead / nearly dead / dormant unit counts.
   * Without the per-unit lists (`per_unit=0`): the view does not use them, and
   * they are most of the answer for wide layers.
   */
  async overview(run, { threshold, tau }) {
    return (await this.request("overview", { run, threshold, tau, per_unit: 0 })).json();
  }

  /**
   * One row per run (the `runs_summary` route): its numbers at the latest step,
   * for the runs table. One request for every run of the logdir.
   */
  async runsSummary() {
    return (await this.request("runs_summary")).json();
  }

  /** One field of a layer's heatmap as {header, array}. */
  async field(run, tag, field) {
    const response = await this.request("heatmap", { run, tag, format: "binary", field });
    return decodeBinary(await response.arrayBuffer());
  }

  /** A series with `zeros` filled in and `absSum`/`nonfinite` null (see loadDetails). */
  async series(run, tag) {
    const { header, array } = await this.field(run, tag, "zeros");
    return seriesFromHeader(header, array);
  }

  /** Adds `absSum` and `nonfinite` (for the tooltip and the dormant metric) to a series. */
  async loadDetails(series) {
    const [absSum, nonfinite] = await Promise.all([
      this.field(series.run, series.tag, "abs_sum"),
      this.field(series.run, series.tag, "nonfinite"),
    ]);
    for (const part of [absSum, nonfinite]) {
      if (part.header.shape[0] !== series.steps.length || part.header.shape[1] !== series.units) {
        throw new ApiError(`${series.tag}: the data changed while loading; reload to refresh`);
      }
    }
    series.absSum = absSum.array;
    series.nonfinite = nonfinite.array;
    series.dormantScores = null;
    return series;
  }
}

/** Builds a series from the binary `zeros` answer. */
export function seriesFromHeader(header, zeros) {
  const [steps, units] = header.shape;
  if (header.steps.length !== steps || header.count.length !== steps) {
    throw new ApiError(`${header.tag}: header steps/count do not match the shape [${steps}, ${units}]`);
  }
  return {
    run: header.run,
    tag: header.tag,
    units,
    description: header.description || "",
    steps: header.steps,
    count: header.count,
    zeros,
    absSum: null,
    nonfinite: null,
    skipped: header.skipped || [],
    downsampled: Boolean(header.downsampled),
    sampleLimit: header.sample_limit ?? null,
  };
}
