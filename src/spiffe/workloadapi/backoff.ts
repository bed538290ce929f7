/** Exponential backoff with jitter and a cap, for Workload API reconnects (rule 79). */
export interface BackoffOptions {
  /** First delay in ms (default 1000). */
  initialMs?: number;
  /** Upper bound for any delay in ms (default 30000). */
  maxMs?: number;
  /** Growth factor per failed attempt (default 2). */
  multiplier?: number;
  /** Fraction of the delay randomised either way, 0..1 (default 0.2). */
  jitter?: number;
  /** Source of randomness in [0, 1) (default Math.random). */
  random?: () => number;
}

export const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 30_000, multiplier: 2, jitter: 0.2 } as const;

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly multiplier: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = Math.max(0, options.initialMs ?? DEFAULT_BACKOFF.initialMs);
    this.maxMs = Math.max(this.initialMs, options.maxMs ?? DEFAULT_BACKOFF.maxMs);
    this.multiplier = Math.max(1, options.multiplier ?? DEFAULT_BACKOFF.multiplier);
    this.jitter = Math.min(1, Math.max(0, options.jitter ?? DEFAULT_BACKOFF.jitter));
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt; each call grows the base delay up to `maxMs`. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * this.multiplier ** this.attempt);
    if (base < this.maxMs) this.attempt++;
    const spread = base * this.jitter * (2 * this.random() - 1);
    return Math.round(Math.min(this.maxMs, Math.max(0, base + spread)));
  }

  /** After a success: the next failure starts again from `initialMs`. */
  reset(): void {
    this.attempt = 0;
  }
}
