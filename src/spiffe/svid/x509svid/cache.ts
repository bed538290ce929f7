/**
 * Remembers signature checks that succeeded, as (issuer fingerprint, subject
 * fingerprint) pairs, so a chain whose intermediate was seen before costs one leaf
 * signature. Bounded (least recently used pairs go first). Failures are never
 * remembered, and time checks are never cached: the verifier redoes them each call.
 */
export class VerificationCache {
  private readonly pairs = new Map<string, true>();

  constructor(readonly maxEntries = 10_000) {}

  has(issuerFingerprint: string, subjectFingerprint: string): boolean {
    const key = issuerFingerprint + subjectFingerprint;
    if (!this.pairs.has(key)) return false;
    this.pairs.delete(key);
    this.pairs.set(key, true);
    return true;
  }

  remember(issuerFingerprint: string, subjectFingerprint: string): void {
    if (this.maxEntries <= 0) return;
    const key = issuerFingerprint + subjectFingerprint;
    this.pairs.delete(key);
    this.pairs.set(key, true);
    while (this.pairs.size > this.maxEntries) this.pairs.delete(this.pairs.keys().next().value!);
  }

  get size(): number {
    return this.pairs.size;
  }

  clear(): void {
    this.pairs.clear();
  }
}
