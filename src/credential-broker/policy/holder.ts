/**
 * The policy in force, replaced atomically: a reload compiles the new file completely
 * before it swaps the reference, and a file that does not compile is refused while
 * the previous policy stays in force. Every request reads `current()` once, so it is
 * judged by exactly one policy version.
 */
import { EventEmitter } from 'node:events';
import { statSync } from 'node:fs';
import { type CompileOptions, loadPolicyFile, type Policy } from './policy.js';

export type PolicyHolderEvents = {
  reload: [policy: Policy, previous: Policy];
  reloadError: [error: Error];
};

export type ReloadResult =
  | { ok: true; changed: boolean; version: string }
  | { ok: false; error: Error; version: string };

export class PolicyHolder extends EventEmitter<PolicyHolderEvents> {
  private policy: Policy;
  private stamp: string;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    policy: Policy,
    private readonly path: string | undefined,
    private readonly options: CompileOptions,
  ) {
    super();
    this.policy = policy;
    this.stamp = path === undefined ? '' : stampOf(path);
  }

  /** Loads `path`; throws when the first load fails (a broker without a policy does not start). */
  static load(path: string, options: CompileOptions = {}): PolicyHolder {
    return new PolicyHolder(loadPolicyFile(path, options), path, options);
  }

  /** A fixed policy (tests, embedding). */
  static of(policy: Policy): PolicyHolder {
    return new PolicyHolder(policy, undefined, {});
  }

  current(): Policy {
    return this.policy;
  }

  get file(): string | undefined {
    return this.path;
  }

  /** Re-reads the file. A bad file leaves the current policy in force. */
  reload(): ReloadResult {
    if (this.path === undefined) return { ok: true, changed: false, version: this.policy.version };
    this.stamp = stampOf(this.path);
    let next: Policy;
    try {
      next = loadPolicyFile(this.path, this.options);
    } catch (err) {
      this.emit('reloadError', err as Error);
      return { ok: false, error: err as Error, version: this.policy.version };
    }
    if (next.digest === this.policy.digest) return { ok: true, changed: false, version: this.policy.version };
    const previous = this.policy;
    this.policy = next;
    this.emit('reload', next, previous);
    return { ok: true, changed: true, version: next.version };
  }

  /** Reloads when the file's size or mtime changed (polled every `intervalMs`; 0 stops). */
  watch(intervalMs: number): void {
    this.unwatch();
    if (intervalMs <= 0 || this.path === undefined) return;
    const path = this.path;
    this.timer = setInterval(() => {
      if (stampOf(path) !== this.stamp) this.reload();
    }, intervalMs);
    this.timer.unref();
  }

  unwatch(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

function stampOf(path: string): string {
  try {
    const st = statSync(path);
    return `${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch {
    return 'missing';
  }
}
