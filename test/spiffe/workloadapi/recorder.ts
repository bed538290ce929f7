import type { SpiffeError } from '../../../src/spiffe/errors.js';
import type { Watcher } from '../../../src/spiffe/workloadapi/client.js';

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function until<T>(
  check: () => T | undefined | false,
  what: string,
  timeoutMs = 4000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A watcher that records every update and error in order. */
export class Recorder<T> implements Watcher<T> {
  readonly updates: T[] = [];
  readonly errors: SpiffeError[] = [];
  readonly events: ('update' | 'error')[] = [];

  onUpdate(update: T): void {
    this.updates.push(update);
    this.events.push('update');
  }

  onError(err: SpiffeError): void {
    this.errors.push(err);
    this.events.push('error');
  }

  /** Waits for the n-th update (1-based) and returns it. */
  update(n: number, timeoutMs?: number): Promise<T> {
    return until(() => this.updates[n - 1], `update #${n}`, timeoutMs);
  }

  /** Waits for an error with this code and returns it. */
  error(code: string, timeoutMs?: number): Promise<SpiffeError> {
    return until(() => this.errors.find((e) => e.code === code), `error ${code}`, timeoutMs);
  }
}
