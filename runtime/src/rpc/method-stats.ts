/**
 * What a server counts per method, in the spirit of NATS services' STATS: calls, errors, the
 * last error, processing time in total and on average, and its p50 and p99. The percentiles
 * come from a histogram of fixed, logarithmic buckets (four per power of two, so within 19 %
 * of the true value), which costs one array increment per call and no allocation.
 * @module
 */

/** The figures of one method, as a snapshot. Times are in milliseconds. */
export interface MethodStatsSnapshot {
  /** Calls that ended (answered, failed or given up). */
  calls: number;
  /** Calls that ended with an error status, the caller's cancels and passed deadlines included. */
  errors: number;
  /** The last error, as "CODE: message"; empty when there was none. */
  lastError: string;
  /** Time from a call's arrival to its end, summed over the calls. */
  processingTimeMs: number;
  /** `processingTimeMs / calls`; 0 without calls. */
  averageProcessingTimeMs: number;
  /** The median processing time (upper bound of its histogram bucket); 0 without calls. */
  p50Ms: number;
  /** The 99th percentile processing time, likewise. */
  p99Ms: number;
}

const BUCKETS_PER_DOUBLING = 4;
/** Buckets from 1 µs up to about 2^32 µs (71 min); longer calls count in the last. */
const BUCKETS = 32 * BUCKETS_PER_DOUBLING;

/** The counters of one method. */
export class MethodStats {
  #calls = 0;
  #errors = 0;
  #lastError = "";
  #totalMs = 0;
  readonly #histogram = new Uint32Array(BUCKETS);

  /** A call ended after `ms`; `error` is its failure ("CODE: message"), if it failed. */
  record(ms: number, error?: string): void {
    this.#calls++;
    this.#totalMs += ms;
    const micros = Math.max(1, ms * 1000);
    this.#histogram[Math.min(BUCKETS - 1, Math.floor(Math.log2(micros) * BUCKETS_PER_DOUBLING))]!++;
    if (error !== undefined) {
      this.#errors++;
      this.#lastError = error;
    }
  }

  /** The figures now. */
  snapshot(): MethodStatsSnapshot {
    const calls = this.#calls;
    return {
      calls,
      errors: this.#errors,
      lastError: this.#lastError,
      processingTimeMs: this.#totalMs,
      averageProcessingTimeMs: calls === 0 ? 0 : this.#totalMs / calls,
      p50Ms: this.#quantile(0.5),
      p99Ms: this.#quantile(0.99),
    };
  }

  /** The upper bound of the bucket that holds the `q` quantile, in ms. */
  #quantile(q: number): number {
    if (this.#calls === 0) return 0;
    const rank = Math.ceil(q * this.#calls);
    let seen = 0;
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      seen += this.#histogram[bucket]!;
      if (seen >= rank) return 2 ** ((bucket + 1) / BUCKETS_PER_DOUBLING) / 1000;
    }
    return 2 ** (BUCKETS / BUCKETS_PER_DOUBLING) / 1000;
  }
}

/** What a {@link MethodStatsTable} files the calls of methods beyond its bound under. */
export const OTHER_METHODS = "(other methods)";

/**
 * Figures per method path for a process that learns the paths from its callers (a broker):
 * at most `maxMethods` of them, so that made-up method names cannot grow it; the calls of
 * any more count under {@link OTHER_METHODS}.
 */
export class MethodStatsTable {
  readonly #methods = new Map<string, MethodStats>();
  readonly #maxMethods: number;

  constructor(maxMethods = 1024) {
    this.#maxMethods = maxMethods;
  }

  /** A call of `path` ended after `ms`, failed with `error` if given. */
  record(path: string, ms: number, error?: string): void {
    let stats = this.#methods.get(path);
    if (!stats) {
      const key = this.#methods.size < this.#maxMethods ? path : OTHER_METHODS;
      stats = this.#methods.get(key) ?? new MethodStats();
      this.#methods.set(key, stats);
    }
    stats.record(ms, error);
  }

  /** The figures of each method now. */
  snapshot(): Record<string, MethodStatsSnapshot> {
    const all: Record<string, MethodStatsSnapshot> = {};
    for (const [path, stats] of this.#methods) all[path] = stats.snapshot();
    return all;
  }
}
