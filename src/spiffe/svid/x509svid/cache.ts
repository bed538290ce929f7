/**
 * Remembers signature checks that succeeded, as (issuer fingerprint, subject
 * fingerprint) pairs, so a chain whose intermediate was seen before costs one leaf
 * signature. Bounded (least recently used subjects go first). Failures are never
 * remembered, and time checks are never cached: the verifier redoes them each call.
 *
 * Keyed by the subject's fingerprint string itself (V8 keeps its hash), so a lookup
 * builds no new string.
 */
export class VerificationCache {
  /** subject fingerprint → issuer fingerprints whose key verified its signature. */
  private readonly bySubject = new Map<string, string[]>();
  private pairs = 0;

  constructor(readonly maxEntries = 10_000) {}

  has(issuerFingerprint: string, subjectFingerprint: string): boolean {
    const issuers = this.bySubject.get(subjectFingerprint);
    if (issuers === undefined || !issuers.includes(issuerFingerprint)) return false;
    this.bySubject.delete(subjectFingerprint);
    this.bySubject.set(subjectFingerprint, issuers);
    return true;
  }

  remember(issuerFingerprint: string, subjectFingerprint: string): void {
    if (this.maxEntries <= 0) return;
    const issuers = this.bySubject.get(subjectFingerprint);
    if (issuers !== undefined) {
      this.bySubject.delete(subjectFingerprint);
      this.bySubject.set(subjectFingerprint, issuers);
      if (issuers.includes(issuerFingerprint)) return;
      issuers.push(issuerFingerprint);
    } else {
      this.bySubject.set(subjectFingerprint, [issuerFingerprint]);
    }
    this.pairs++;
    while (this.pairs > this.maxEntries) {
      const [oldest, list] = this.bySubject.entries().next().value!;
      this.bySubject.delete(oldest);
      this.pairs -= list.length;
    }
  }

  /** Number of remembered (issuer, subject) pairs. */
  get size(): number {
    return this.pairs;
  }

  clear(): void {
    this.bySubject.clear();
    this.pairs = 0;
  }
}
