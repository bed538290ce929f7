/**
 * Issuer-signature checks on a second core. A 100k import spends about half its time in
 * OpenSSL's ECDSA verify; a worker thread takes those checks while the main thread reads
 * and parses. Only the plain algorithms go there (ECDSA and RSA PKCS#1 v1.5 with SHA-2,
 * Ed25519, with the parameters RFC 5758/8410/4055 allow), with the kernel's semantics:
 * a key of the wrong type is a failed check, never an error. Anything else (RSA-PSS,
 * SHA-1, unknown) stays with the kernel's `verifySignature` on the main thread.
 *
 * The worker is plain CommonJS evaluated from a string, so it runs the same under tsx,
 * vitest and the built package.
 */
import { Worker } from 'node:worker_threads';
import type { Certificate } from '../spiffe/x509/certificate.js';

/** Plan numbers shared with the worker source below. */
const PLANS: Record<string, number> = {
  '1.2.840.10045.4.3.2': 0, // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 1, // ecdsa-with-SHA384
  '1.2.840.10045.4.3.4': 2, // ecdsa-with-SHA512
  '1.2.840.113549.1.1.11': 3, // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 4, // sha384WithRSAEncryption
  '1.2.840.113549.1.1.13': 5, // sha512WithRSAEncryption
  '1.3.101.112': 6, // Ed25519
};

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { constants, createPublicKey, verify } = require('node:crypto');
const keys = new Map();
const PLANS = [
  ['sha256', 'ec'], ['sha384', 'ec'], ['sha512', 'ec'],
  ['sha256', 'rsa'], ['sha384', 'rsa'], ['sha512', 'rsa'],
  [null, 'ed25519'],
];
parentPort.on('message', (m) => {
  if (m.type === 'key') {
    try { keys.set(m.id, createPublicKey({ key: Buffer.from(m.spki), format: 'der', type: 'spki' })); } catch { keys.set(m.id, null); }
    return;
  }
  const buf = Buffer.from(m.buf);
  const meta = new Int32Array(m.meta);
  const out = new Uint8Array(m.n);
  for (let i = 0; i < m.n; i++) {
    const o = i * 6;
    const key = keys.get(meta[o + 4]);
    const plan = PLANS[meta[o + 5]];
    if (!key || !plan || key.asymmetricKeyType !== plan[1]) continue;
    const tbs = buf.subarray(meta[o], meta[o + 1]);
    const sig = buf.subarray(meta[o + 2], meta[o + 3]);
    try {
      const opts = plan[1] === 'ec' ? { key, dsaEncoding: 'der' } : plan[1] === 'rsa' ? { key, padding: constants.RSA_PKCS1_PADDING } : key;
      out[i] = verify(plan[0], tbs, opts, sig) ? 1 : 0;
    } catch {
      out[i] = 0;
    }
  }
  parentPort.postMessage({ id: m.id, out: out.buffer }, [out.buffer]);
});
`;

/** The worker plan for a certificate's signature algorithm, or undefined when the kernel must decide. */
export function fastPlan(cert: Certificate): number | undefined {
  const alg = cert.signatureAlgorithm;
  const plan = PLANS[alg.oid];
  if (plan === undefined) return undefined;
  const p = alg.parameters;
  if (p === undefined) return plan;
  // PKCS#1 identifiers carry NULL parameters; anything else is the kernel's call.
  return plan >= 3 && plan <= 5 && p.length === 2 && p[0] === 0x05 && p[1] === 0x00 ? plan : undefined;
}

type Done = (ok: boolean) => void;

const BATCH = 512;

export class SignatureVerifier {
  private readonly worker: Worker;
  private readonly keyIds = new Map<string, number>();
  /** The batch being filled: bytes are copied in at submit, so no parsed certificate waits for an answer. */
  private buf = new Uint8Array(BATCH * 1024);
  private used = 0;
  private meta = new Int32Array(BATCH * 6);
  private done: Done[] = [];
  private readonly inFlightBatches = new Map<number, Done[]>();
  private nextBatch = 0;
  private outstanding = 0;
  private failure: Error | undefined;
  private waiters: (() => void)[] = [];

  constructor() {
    // A small heap: the worker holds one batch and a few issuer keys.
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 },
    });
    this.worker.on('message', (m: { id: number; out: ArrayBuffer }) =>
      this.settle(m.id, new Uint8Array(m.out)),
    );
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => {
      if (code !== 0) this.fail(new Error(`signature worker exited with code ${code}`));
    });
  }

  /** Checks reported but not yet answered. */
  get pending(): number {
    return this.outstanding;
  }

  /** Queues "did the key with SPKI `issuerSpki` (known as `issuerId`) sign these to-be-signed bytes?". */
  submit(
    issuerId: string,
    issuerSpki: Uint8Array,
    tbs: Uint8Array,
    signature: Uint8Array,
    plan: number,
    done: Done,
  ): void {
    if (this.failure !== undefined) throw this.failure;
    let keyId = this.keyIds.get(issuerId);
    if (keyId === undefined) {
      keyId = this.keyIds.size;
      this.keyIds.set(issuerId, keyId);
      this.worker.postMessage({ type: 'key', id: keyId, spki: issuerSpki });
    }
    const need = this.used + tbs.length + signature.length;
    if (need > this.buf.length) {
      const bigger = new Uint8Array(Math.max(need, this.buf.length * 2));
      bigger.set(this.buf.subarray(0, this.used));
      this.buf = bigger;
    }
    const o = this.done.length * 6;
    this.buf.set(tbs, this.used);
    this.meta[o] = this.used;
    this.used += tbs.length;
    this.meta[o + 1] = this.used;
    this.buf.set(signature, this.used);
    this.meta[o + 2] = this.used;
    this.used += signature.length;
    this.meta[o + 3] = this.used;
    this.meta[o + 4] = keyId;
    this.meta[o + 5] = plan;
    this.done.push(done);
    this.outstanding++;
    if (this.done.length >= BATCH) this.flush();
  }

  /** Sends what is queued. */
  flush(): void {
    const n = this.done.length;
    if (n === 0) return;
    const id = this.nextBatch++;
    this.inFlightBatches.set(id, this.done);
    const buf = this.buf.buffer.slice(0, this.used);
    const meta = this.meta.buffer.slice(0, n * 24);
    this.done = [];
    this.used = 0;
    this.worker.postMessage({ type: 'batch', id, n, buf, meta }, [buf, meta]);
  }

  /** Resolves once at most `limit` checks are unanswered (backpressure for a reader). */
  async below(limit: number): Promise<void> {
    while (this.outstanding > limit) {
      if (this.failure !== undefined) throw this.failure;
      // Follow-up checks queued by answers must not wait for a full batch when nothing else is coming.
      if (this.inFlightBatches.size === 0) this.flush();
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** Resolves when every check submitted so far (and every follow-up they caused) is answered. */
  async drain(): Promise<void> {
    for (;;) {
      this.flush();
      if (this.outstanding === 0) break;
      await this.below(0);
    }
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private settle(id: number, out: Uint8Array): void {
    const callbacks = this.inFlightBatches.get(id);
    if (callbacks === undefined) return;
    this.inFlightBatches.delete(id);
    callbacks.forEach((done, i) => {
      this.outstanding--;
      done(out[i] === 1);
    });
    if (this.inFlightBatches.size === 0) this.flush();
    this.wake();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }
}
