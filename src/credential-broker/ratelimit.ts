/**
 * A token bucket per key (a SPIFFE ID, or `addr:<ip>` for callers that failed to
 * authenticate). In memory, per process: with N broker replicas an identity gets up
 * to N times the rate, which is what a per-replica limit means.
 */
import type { Clock } from '../spiffe/errors.js';

export interface RateLimitOptions {
  /** Sustained requests per second per key. */
  ratePerSecond: number;
  /** Bucket size: requests allowed in a burst. */
  burst: number;
  /** Keys tracked at most (least recently used dropped first; default 100k). */
  maxKeys?: number;
}

export type RateVerdict = { ok: true } | { ok: false; retryAfterSeconds: number };

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly maxKeys: number;

  constructor(
    private readonly opts: RateLimitOptions,
    private readonly clock: Clock,
  ) {
    this.maxKeys = opts.maxKeys ?? 100_000;
  }

  take(key: string): RateVerdict {
    const now = this.clock().getTime();
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: this.opts.burst, at: now };
    } else {
      this.buckets.delete(key);
      b.tokens = Math.min(this.opts.burst, b.tokens + ((now - b.at) / 1000) * this.opts.ratePerSecond);
      b.at = now;
    }
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / this.opts.ratePerSecond)) };
  }
}
