/**
 * From extractions (raw blobs + where they came from) to one `Inventory`: parse each
 * certificate once (keyed by SHA-256), link every certificate to the one whose key
 * signed it (candidates by authority/subject key identifier and issuer name, decided by
 * the signature alone), classify anchors / intermediates / workloads, resolve the anchor
 * each chain reaches, derive identities, and judge.
 *
 * Streaming: `InventoryBuilder.add` takes one file's extraction at a time and keeps a
 * compact record per certificate; the parsed certificate is kept only for CAs (they
 * verify others). A leaf whose issuer is already known is verified on arrival, so a
 * large import holds no parsed leaves.
 */
import { createHash } from 'node:crypto';
import { type Clock, SpiffeError, systemClock } from '../spiffe/errors.js';
import { bytesEqual } from '../spiffe/internal/der.js';
import { type Certificate, parseCertificate } from '../spiffe/x509/certificate.js';
import { verifySignature } from '../spiffe/x509/signature.js';
import type { CertificateBlob, Extraction, KeyBlob } from './extraction.js';
import { deriveIdentity } from './identity.js';
import {
  byExpiry,
  type CertificateRole,
  type Inventory,
  type InventoryCertificate,
  type InventoryStats,
  type KeySighting,
  type Mesh,
  type Problem,
  type ProblemCode,
  type SourceRef,
  type SubjectAltNames,
} from './inventory.js';
import { fastPlan, SignatureVerifier } from './verify-pool.js';

const DAY_MS = 86_400_000;
/** Unanswered worker checks before `ready()` makes the reader wait. */
const MAX_PENDING_CHECKS = 2048;

export interface BuildOptions extends ValidityOptions {
  /**
   * Check leaf signatures on a worker thread while the main thread reads (large imports:
   * about half the work moves to the second core). Default false.
   */
  workerThread?: boolean;
  /** Injected time: validity is judged at `clock()` (default: now). */
  clock?: Clock;
  cluster?: string | null;
  /** `--mesh`: forces the mesh of every certificate. */
  mesh?: Mesh | null;
  /** RSA keys below this many bits are WEAK_KEY (default 2048). */
  minRsaBits?: number;
  /** EC keys below this many bits are WEAK_KEY (default 256). */
  minEcBits?: number;
}

const ANCHOR_HINT = 1;
const ISSUER_HINT = 2;

/** One certificate while the inventory is being built. */
interface Entry {
  fingerprint: string;
  derBase64: string;
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  keyAlgorithm: string;
  keySize: number | null;
  version: number;
  bcCa: boolean;
  /** undefined: no keyUsage extension. */
  keyCertSign: boolean | undefined;
  selfSigned: boolean;
  san: SubjectAltNames;
  spiffeId: string | null;
  meshIdentity: string | null;
  namespace: string | null;
  serviceAccount: string | null;
  trustDomain: string | null;
  identityMesh: Mesh | null;
  spkiSha256: string;
  hints: number;
  meshHint: Mesh | null;
  sources: string[];
  issuerFingerprint: string | null;
  children: number;
  /** Kept for CA-capable certificates only. */
  cert: Certificate | undefined;
  unsupportedAlgorithm: boolean;
}

export class InventoryBuilder {
  private readonly now: Date;
  private readonly nowMs: number;
  private readonly entries = new Map<string, Entry>();
  private readonly bySki = new Map<string, Entry[]>();
  private readonly bySubject = new Map<string, Entry[]>();
  private readonly sources = new Map<string, SourceRef>();
  private readonly keys: KeyBlob[] = [];
  private readonly firstCertOf = new Map<string, string>();
  private readonly problems: Problem[] = [];
  private readonly failedPairs = new Set<string>();
  private readonly strings = new Map<string, string>();
  private verifier: SignatureVerifier | undefined;
  private readonly repeats: { fingerprint: string; source: string; block: number }[] = [];
  private readonly stats: InventoryStats = { files: 0, skippedFiles: 0, certificatesSeen: 0 };
  private readonly minRsa: number;
  private readonly minEc: number;
  private finished = false;

  constructor(private readonly opts: BuildOptions = {}) {
    this.now = (opts.clock ?? systemClock)();
    this.nowMs = this.now.getTime();
    this.minRsa = opts.minRsaBits ?? 2048;
    this.minEc = opts.minEcBits ?? 256;
  }

  /** Certificates taken so far (unique). */
  get size(): number {
    return this.entries.size;
  }

  add(ex: Extraction): void {
    if (this.finished) throw new Error('InventoryBuilder.add after finish');
    this.stats.files++;
    if (ex.skipped) this.stats.skippedFiles++;
    for (const s of ex.sources) if (!this.sources.has(s.locator)) this.sources.set(s.locator, s);
    this.problems.push(...ex.problems);
    this.keys.push(...ex.keys);
    let inSource: Set<string> | undefined;
    let current = '';
    for (const blob of ex.certificates) {
      const e = this.take(blob);
      if (e === undefined) continue;
      if (!this.firstCertOf.has(blob.source)) this.firstCertOf.set(blob.source, e.fingerprint);
      if (blob.source !== current || inSource === undefined) {
        current = blob.source;
        inSource = new Set();
      }
      // Blobs of one source arrive together; a repeat of a root inside one is a duplicate (judged once roles are known).
      if (inSource.has(e.fingerprint))
        this.repeats.push({ fingerprint: e.fingerprint, source: blob.source, block: blob.block });
      inSource.add(e.fingerprint);
    }
  }

  private take(blob: CertificateBlob): Entry | undefined {
    this.stats.certificatesSeen++;
    const fingerprint = sha256(blob.der);
    const source = this.sources.get(blob.source);
    const hint = blob.hint === 'anchor' ? ANCHOR_HINT : blob.hint === 'issuer' ? ISSUER_HINT : 0;
    const known = this.entries.get(fingerprint);
    if (known !== undefined) {
      // A source's blobs arrive together, so a repeat from the same source is always the last one
      // (an intermediate repeated in 100k chain files must not cost a scan of 100k locators each time).
      if (known.sources[known.sources.length - 1] !== blob.source) known.sources.push(blob.source);
      known.hints |= hint;
      known.meshHint ??= source?.mesh ?? null;
      return known;
    }
    let cert: Certificate;
    try {
      cert = parseCertificate(blob.der, { cache: false });
    } catch (err) {
      if (!(err instanceof SpiffeError)) throw err;
      const where =
        blob.line === undefined ? `element ${blob.block}` : `PEM block ${blob.block} (line ${blob.line})`;
      this.problems.push({
        code: 'CORRUPT_PEM_BLOCK',
        source: blob.source,
        message: `${where} does not hold a readable certificate: ${err.message}`,
        details: {
          block: blob.block,
          ...(blob.line === undefined ? {} : { line: blob.line }),
          error: err.code,
        },
      });
      return undefined;
    }
    const e = this.entryOf(cert, blob, hint, source?.mesh ?? null);
    this.entries.set(fingerprint, e);
    this.judge(e, cert, blob.source);
    const caCapable = e.bcCa || e.version === 1;
    if (caCapable) {
      e.cert = cert;
      this.index(e, cert);
      this.link(e, cert);
    } else if (!this.linkOnWorker(e, cert)) {
      this.link(e, cert);
    }
    return e;
  }

  /**
   * Leaves: the issuer candidates are known now, the signature checks go to the worker and
   * answer later (one candidate after the other). False when the kernel must check here.
   */
  private linkOnWorker(e: Entry, cert: Certificate): boolean {
    if (!this.opts.workerThread || bytesEqual(cert.issuerDer, cert.subjectDer)) return false;
    const plan = fastPlan(cert);
    if (plan === undefined) return false;
    const candidates = this.candidates(e, cert);
    if (candidates.length === 0) return true; // nothing to try yet: finish() links it if its issuer shows up
    this.verifier ??= new SignatureVerifier();
    const verifier = this.verifier;
    // Only the signed bytes travel (copied into the batch now); nothing of the parsed certificate
    // waits for the answer, except a copy of the bytes when another candidate may be needed.
    const retry =
      candidates.length > 1 ? { tbs: cert.tbs.slice(), signature: cert.signature.slice() } : undefined;
    const attempt = (i: number, tbs: Uint8Array, signature: Uint8Array): void => {
      const c = candidates[i];
      if (c === undefined) return;
      const pair = `${c.fingerprint}${e.fingerprint}`;
      if (this.failedPairs.has(pair) || c.cert === undefined) {
        attempt(i + 1, tbs, signature);
        return;
      }
      verifier.submit(c.fingerprint, c.cert.spki, tbs, signature, plan, (ok) => {
        if (ok) {
          e.issuerFingerprint = c.fingerprint;
          c.children++;
        } else {
          this.failedPairs.add(pair);
          if (retry !== undefined) attempt(i + 1, retry.tbs, retry.signature);
        }
      });
    };
    attempt(0, cert.tbs, cert.signature);
    return true;
  }

  /** Resolves when the worker has caught up enough to take more (call between files). */
  async ready(): Promise<void> {
    await this.verifier?.below(MAX_PENDING_CHECKS);
  }

  private entryOf(cert: Certificate, blob: CertificateBlob, hint: number, meshHint: Mesh | null): Entry {
    const san = cert.subjectAltName;
    const sans: SubjectAltNames = {
      uris: list(san?.uris),
      dnsNames: list(san?.dnsNames),
      ips: list(san?.ips),
      emails: list(san?.emails),
    };
    const id = deriveIdentity(sans);
    const e: Entry = {
      fingerprint: cert.fingerprint,
      derBase64: Buffer.from(cert.der.buffer, cert.der.byteOffset, cert.der.byteLength).toString('base64'),
      subject: cert.subject,
      issuer: this.intern(cert.issuer),
      serial: cert.serialNumber,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      keyAlgorithm: this.intern(cert.keyAlgorithm),
      keySize: keySizeOf(cert.keyAlgorithm),
      version: cert.version,
      bcCa: cert.basicConstraints?.ca === true,
      keyCertSign: cert.keyUsage === undefined ? undefined : cert.keyUsage.flags.has('keyCertSign'),
      selfSigned: false,
      san: sans,
      spiffeId: id.spiffeId,
      meshIdentity: id.meshIdentity,
      namespace: id.namespace,
      serviceAccount: id.serviceAccount,
      trustDomain: id.trustDomain,
      identityMesh: id.mesh,
      spkiSha256: sha256(cert.spki),
      hints: hint,
      meshHint,
      sources: [blob.source],
      issuerFingerprint: null,
      children: 0,
      cert: undefined,
      unsupportedAlgorithm: false,
    };
    for (const f of id.findings) this.problem(e, f.code, blob.source, f.message, f.details);
    return e;
  }

  /** One copy of strings thousands of leaves repeat (issuer names, key algorithms). */
  private intern(s: string): string {
    const known = this.strings.get(s);
    if (known !== undefined) return known;
    if (this.strings.size < 10_000) this.strings.set(s, s);
    return s;
  }

  /** Findings about the certificate alone: validity, key strength. */
  private judge(e: Entry, cert: Certificate, source: string): void {
    const isCa = e.bcCa || (e.version === 1 && bytesEqual(cert.issuerDer, cert.subjectDer));
    const v = validityFinding(
      { notBefore: e.notBefore, notAfter: e.notAfter, isCa, label: label(e) },
      this.nowMs,
      this.opts,
    );
    if (v !== undefined) this.problem(e, v.code, source, v.message, v.details);
    const weak = weakness(cert.keyAlgorithm, this.minRsa, this.minEc);
    if (weak !== undefined)
      this.problem(e, 'WEAK_KEY', source, `${label(e)} has a weak key: ${weak}`, {
        keyAlgorithm: e.keyAlgorithm,
      });
  }

  private index(e: Entry, cert: Certificate): void {
    if (cert.subjectKeyId !== undefined) push(this.bySki, cert.subjectKeyId, e);
    push(this.bySubject, hex(cert.subjectDer), e);
  }

  /** Finds the certificate whose key signed `cert`: by signature only, candidates by key id and name. */
  private link(e: Entry, cert: Certificate): boolean {
    if (bytesEqual(cert.issuerDer, cert.subjectDer) && this.verifies(e, cert, e)) {
      e.selfSigned = true;
      e.issuerFingerprint = e.fingerprint;
      return true;
    }
    for (const c of this.candidates(e, cert)) {
      if (c === e) continue;
      if (this.verifies(e, cert, c)) {
        e.issuerFingerprint = c.fingerprint;
        c.children++;
        return true;
      }
    }
    return false;
  }

  /** CAs that may have signed `cert`: by authority key id, then by issuer name. The signature decides. */
  private candidates(e: Entry, cert: Certificate): Entry[] {
    const out: Entry[] = [];
    if (cert.authorityKeyId !== undefined)
      for (const c of this.bySki.get(cert.authorityKeyId) ?? []) out.push(c);
    for (const c of this.bySubject.get(hex(cert.issuerDer)) ?? []) if (!out.includes(c)) out.push(c);
    return out.filter((c) => c !== e);
  }

  private verifies(e: Entry, cert: Certificate, issuer: Entry): boolean {
    const pair = `${issuer.fingerprint}${e.fingerprint}`;
    if (this.failedPairs.has(pair)) return false;
    const key = issuer === e ? cert.publicKey : issuer.cert?.publicKey;
    let ok = false;
    if (key !== undefined) {
      try {
        ok = verifySignature(cert, key);
      } catch (err) {
        if (!(err instanceof SpiffeError)) throw err;
        if (!e.unsupportedAlgorithm) {
          e.unsupportedAlgorithm = true;
          this.problem(
            e,
            'SIGNATURE_ALGORITHM_UNSUPPORTED',
            e.sources[0]!,
            `${label(e)}: ${err.message}; its issuer cannot be confirmed`,
            {
              algorithm: cert.signatureAlgorithm.name,
            },
          );
        }
      }
    }
    if (!ok) this.failedPairs.add(pair);
    return ok;
  }

  private problem(
    e: Entry,
    code: ProblemCode,
    source: string,
    message: string,
    details?: Record<string, unknown>,
  ): void {
    const p: Problem = { code, source, message, fingerprint: e.fingerprint };
    if (details !== undefined) p.details = details;
    this.problems.push(p);
  }

  /** Links what could not be linked on arrival, classifies, resolves anchors and judges the whole. */
  async finish(): Promise<Inventory> {
    if (this.finished) throw new Error('InventoryBuilder.finish called twice');
    this.finished = true;
    if (this.verifier !== undefined) {
      try {
        await this.verifier.drain();
      } finally {
        await this.verifier.close();
      }
    }
    return this.complete();
  }

  private complete(): Inventory {
    const forced = this.opts.mesh ?? null;
    const cluster = this.opts.cluster ?? null;

    for (const e of this.entries.values()) {
      if (e.issuerFingerprint !== null) continue;
      const cert = e.cert ?? parseCertificate(Buffer.from(e.derBase64, 'base64'), { cache: false });
      this.link(e, cert);
    }

    // Roles.
    const role = new Map<string, CertificateRole>();
    for (const e of this.entries.values()) {
      const v1Ca =
        !e.bcCa && e.version === 1 && (e.selfSigned || e.children > 0 || (e.hints & ANCHOR_HINT) !== 0);
      const isCa = e.bcCa || v1Ca;
      let r: CertificateRole;
      if (e.hints & ANCHOR_HINT) r = isCa ? 'anchor' : 'workload';
      else if (!isCa) r = 'workload';
      else if (e.hints & ISSUER_HINT) r = 'intermediate';
      else r = e.selfSigned ? 'anchor' : 'intermediate';
      role.set(e.fingerprint, r);
      const src = e.sources[0]!;
      if (e.hints & ANCHOR_HINT && !isCa) {
        this.problem(
          e,
          'ANCHOR_NOT_CA',
          src,
          `${label(e)} is in a trust-anchor bundle but is not a CA (no basicConstraints cA=TRUE); it cannot anchor a chain`,
        );
      }
      if (v1Ca) {
        this.problem(
          e,
          'CA_V1_WITHOUT_EXTENSIONS',
          src,
          `CA ${label(e)} is an X.509 v1 certificate without extensions (no basicConstraints, no key usage); reissue it as v3`,
        );
      }
      if (isCa && e.keyCertSign === false) {
        this.problem(
          e,
          'CA_WITHOUT_KEY_CERT_SIGN',
          src,
          `CA ${label(e)} has a key usage without keyCertSign; verifiers reject the certificates it signs`,
        );
      }
    }

    // Anchors each chain reaches.
    const anchorOf = new Map<string, string | null>();
    const resolve = (start: Entry): string | null => {
      const path: Entry[] = [];
      let cur: Entry | undefined = start;
      let found: string | null = null;
      const onPath = new Set<string>();
      while (cur !== undefined) {
        const memo = anchorOf.get(cur.fingerprint);
        if (memo !== undefined) {
          found = memo;
          break;
        }
        if (role.get(cur.fingerprint) === 'anchor') {
          found = cur.fingerprint;
          break;
        }
        if (onPath.has(cur.fingerprint)) break; // self-signed non-anchor, or a cross-signing loop
        onPath.add(cur.fingerprint);
        path.push(cur);
        cur = cur.issuerFingerprint === null ? undefined : this.entries.get(cur.issuerFingerprint);
      }
      for (const p of path) anchorOf.set(p.fingerprint, found);
      return found;
    };
    for (const e of this.entries.values()) resolve(e);

    const sameSubject = new Map<string, Entry[]>();
    for (const e of this.entries.values()) {
      const r = role.get(e.fingerprint)!;
      // CAs, and certificates named like their issuer (self-issued): what name-based path builders confuse.
      if (e.subject !== '' && (r !== 'workload' || e.subject === e.issuer)) push(sameSubject, e.subject, e);
    }

    for (const e of this.entries.values()) {
      const r = role.get(e.fingerprint)!;
      if (r === 'anchor' || anchorOf.get(e.fingerprint) !== null) continue;
      this.problem(e, 'CHAIN_NO_ANCHOR', e.sources[0]!, this.noAnchorMessage(e, r, sameSubject), {
        issuerFingerprint: e.issuerFingerprint,
      });
    }

    // Same name, different keys: never linked, always reported.
    for (const [subject, group] of sameSubject) {
      const keys = new Set(group.map((g) => g.spkiSha256));
      if (keys.size < 2) continue;
      for (const e of group) {
        const others = group.filter((g) => g.spkiSha256 !== e.spkiSha256);
        const signedBy = others.find((g) => g.fingerprint === e.issuerFingerprint);
        const signs = others.filter((g) => g.issuerFingerprint === e.fingerprint);
        const relation = signedBy
          ? `; it is issued by ${short(signedBy.fingerprint)} under the same name (self-issued), which name-based verifiers such as \`openssl verify\` mistake for self-signed`
          : signs.length > 0
            ? `; it issued ${signs.map((g) => short(g.fingerprint)).join(', ')} under its own name, which name-based verifiers mistake for self-signed`
            : '; they are unrelated and were not linked by name';
        this.problem(
          e,
          'SAME_SUBJECT_DIFFERENT_KEY',
          e.sources[0]!,
          `${others.length} other certificate(s) share the subject "${subject}" but hold a different key (${others.map((g) => short(g.fingerprint)).join(', ')})${relation}`,
          { others: others.map((g) => g.fingerprint) },
        );
      }
    }

    for (const r of this.repeats) {
      const e = this.entries.get(r.fingerprint);
      if (e === undefined || role.get(r.fingerprint) !== 'anchor') continue;
      this.problem(
        e,
        'DUPLICATE_ROOT',
        r.source,
        `trust anchor ${label(e)} is listed more than once in ${r.source} (again as block ${r.block}); keep one copy`,
        {
          block: r.block,
        },
      );
    }

    // One key, several anchor certificates (a root re-issued with new dates, or a copy).
    const anchorsByKey = new Map<string, Entry[]>();
    for (const e of this.entries.values())
      if (role.get(e.fingerprint) === 'anchor') push(anchorsByKey, e.spkiSha256, e);
    for (const group of anchorsByKey.values()) {
      if (group.length < 2) continue;
      for (const e of group) {
        const others = group.filter((g) => g !== e).map((g) => g.fingerprint);
        this.problem(
          e,
          'DUPLICATE_ROOT',
          e.sources[0]!,
          `trust anchor ${label(e)} shares its key with ${others.length} other anchor certificate(s) (${others.map(short).join(', ')}); keep one per key`,
          {
            others,
          },
        );
      }
    }

    // Mesh: forced, else the source's shape, else the identity's shape; CAs take their leaves' mesh.
    const meshOf = new Map<string, Mesh | null>();
    for (const e of this.entries.values()) meshOf.set(e.fingerprint, forced ?? e.meshHint ?? e.identityMesh);
    if (forced === null) {
      for (const e of this.entries.values()) {
        let mesh = meshOf.get(e.fingerprint) ?? null;
        let cur = e;
        for (let hops = 0; mesh !== null && cur.issuerFingerprint !== null && hops < 16; hops++) {
          const up = this.entries.get(cur.issuerFingerprint);
          if (up === undefined || up === cur) break;
          const upMesh = meshOf.get(up.fingerprint) ?? null;
          if (upMesh === null) meshOf.set(up.fingerprint, mesh);
          else mesh = upMesh;
          cur = up;
        }
      }
    }

    const keys = this.keySightings();

    const anchors: InventoryCertificate[] = [];
    const intermediates: InventoryCertificate[] = [];
    const workloads: InventoryCertificate[] = [];
    // Entries are dropped as they are converted, so the two never both exist in full.
    for (const [fp, e] of this.entries) {
      this.entries.delete(fp);
      const r = role.get(e.fingerprint)!;
      const c: InventoryCertificate = {
        fingerprint: e.fingerprint,
        role: r,
        mesh: meshOf.get(e.fingerprint) ?? null,
        cluster,
        subject: e.subject,
        issuer: e.issuer,
        serial: e.serial,
        notBefore: e.notBefore,
        notAfter: e.notAfter,
        keyAlgorithm: e.keyAlgorithm,
        keySize: e.keySize,
        isCa: r !== 'workload',
        selfSigned: e.selfSigned,
        san: e.san,
        spiffeId: e.spiffeId,
        meshIdentity: r === 'workload' ? e.meshIdentity : null,
        namespace: r === 'workload' ? e.namespace : null,
        serviceAccount: r === 'workload' ? e.serviceAccount : null,
        trustDomain: e.trustDomain,
        issuerFingerprint: e.issuerFingerprint,
        anchorFingerprint: anchorOf.get(e.fingerprint) ?? (r === 'anchor' ? e.fingerprint : null),
        sources: e.sources.length > 1 ? e.sources.sort() : e.sources,
        derBase64: e.derBase64,
      };
      (r === 'anchor' ? anchors : r === 'intermediate' ? intermediates : workloads).push(c);
    }
    this.entries.clear();
    this.bySki.clear();
    this.bySubject.clear();
    this.failedPairs.clear();
    this.strings.clear();

    return {
      mesh: forced,
      cluster,
      evaluatedAt: this.now.toISOString(),
      anchors: anchors.sort(byExpiry),
      intermediates: intermediates.sort(byExpiry),
      workloads: workloads.sort(byExpiry),
      sources: [...this.sources.values()],
      keys,
      problems: this.problems,
      stats: this.stats,
    };
  }

  private noAnchorMessage(e: Entry, r: CertificateRole, sameSubject: Map<string, Entry[]>): string {
    const what = r === 'workload' ? 'workload certificate' : 'CA';
    if (e.selfSigned) {
      if (r === 'workload') {
        return `${label(e)} is a self-signed end-entity certificate (not a CA): it cannot be a trust anchor, and no imported CA issued it`;
      }
      const twin = (sameSubject.get(e.subject) ?? []).some((g) => g !== e && g.spkiSha256 !== e.spkiSha256);
      return `the mesh signs with ${label(e)}, but it is self-signed and not among the trust anchors${
        twin ? ' (an anchor with the same subject exists, but its key differs and did not sign it)' : ''
      }; workloads it issues will not verify`;
    }
    if (e.issuerFingerprint === null) {
      const named = (sameSubject.get(e.issuer) ?? []).length;
      return `${what} ${label(e)}: its issuer "${e.issuer}" is not among the imported certificates${
        named > 0
          ? ` (${named} certificate(s) with that name were imported, but none of their keys signed it)`
          : ''
      }; import the CA that issued it`;
    }
    const top = this.topOf(e);
    return `${what} ${label(e)} chains to ${label(top)} (${short(top.fingerprint)}), which is not a trust anchor; import the root it chains to`;
  }

  private topOf(e: Entry): Entry {
    let cur = e;
    for (let hops = 0; hops < 32; hops++) {
      if (cur.issuerFingerprint === null || cur.issuerFingerprint === cur.fingerprint) break;
      const up = this.entries.get(cur.issuerFingerprint);
      if (up === undefined) break;
      cur = up;
    }
    return cur;
  }

  private keySightings(): KeySighting[] {
    if (this.keys.length === 0) return [];
    const bySpki = new Map<string, string>();
    for (const e of this.entries.values())
      if (!bySpki.has(e.spkiSha256)) bySpki.set(e.spkiSha256, e.fingerprint);
    const out: KeySighting[] = [];
    for (const k of this.keys) {
      const paired = k.pairedWith === undefined ? undefined : this.firstCertOf.get(k.pairedWith);
      const pairedEntry = paired === undefined ? undefined : this.entries.get(paired);
      let matchesCertificate: boolean | null = null;
      if (pairedEntry !== undefined && k.spkiSha256 !== null) {
        matchesCertificate = pairedEntry.spkiSha256 === k.spkiSha256;
        if (!matchesCertificate) {
          this.problems.push({
            code: 'KEY_CERT_MISMATCH',
            source: k.source,
            message: `the private key in ${k.source} (${k.keyType}) does not belong to the certificate it is stored with (${label(pairedEntry)} in ${k.pairedWith}); the CA cannot sign with this pair`,
            fingerprint: pairedEntry.fingerprint,
            details: { pairedWith: k.pairedWith },
          });
        }
      }
      const match =
        k.spkiSha256 === null
          ? null
          : ((matchesCertificate ? pairedEntry!.fingerprint : bySpki.get(k.spkiSha256)) ?? null);
      out.push({ source: k.source, keyType: k.keyType, matchesFingerprint: match, matchesCertificate });
    }
    return out;
  }
}

/** Builds an inventory from extractions, one file's at a time (an async source streams). */
export async function buildInventory(
  extractions: Iterable<Extraction> | AsyncIterable<Extraction>,
  opts: BuildOptions = {},
): Promise<Inventory> {
  const b = new InventoryBuilder(opts);
  for await (const ex of extractions) {
    b.add(ex);
    await b.ready();
  }
  return b.finish();
}

/** The codes whose verdict depends on the instant of judgement (recomputed when an inventory is viewed). */
export const TIME_PROBLEM_CODES: readonly ProblemCode[] = [
  'CERT_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_EXPIRING_SOON',
];

export interface ValidityOptions {
  caExpiryWindowMs?: number;
  leafExpiryFraction?: number;
}

/**
 * Expired, not yet valid, or expiring soon at `nowMs`: a CA within `caExpiryWindowMs`
 * (default 30 days) of its end, a leaf in the last `leafExpiryFraction` (default 20%)
 * of its own lifetime.
 */
export function validityFinding(
  c: { notBefore: string; notAfter: string; isCa: boolean; label: string },
  nowMs: number,
  opts: ValidityOptions = {},
): { code: ProblemCode; message: string; details: Record<string, unknown> } | undefined {
  const caWindow = opts.caExpiryWindowMs ?? 30 * DAY_MS;
  const fraction = opts.leafExpiryFraction ?? 0.2;
  const nb = Date.parse(c.notBefore);
  const na = Date.parse(c.notAfter);
  const notAfter = new Date(na).toISOString();
  if (na < nowMs) {
    return {
      code: 'CERT_EXPIRED',
      message: `${c.label} expired on ${notAfter} (${ago(nowMs - na)} ago)`,
      details: { notAfter },
    };
  }
  if (nb > nowMs) {
    const notBefore = new Date(nb).toISOString();
    return {
      code: 'CERT_NOT_YET_VALID',
      message: `${c.label} is not valid before ${notBefore} (in ${ago(nb - nowMs)}); check the issuer's clock`,
      details: { notBefore },
    };
  }
  if (c.isCa) {
    if (na - nowMs > caWindow) return undefined;
    return {
      code: 'CERT_EXPIRING_SOON',
      message: `CA ${c.label} expires on ${notAfter}, in ${ago(na - nowMs)} (window: ${ago(caWindow)}); rotate it before it does`,
      details: { notAfter, windowMs: caWindow },
    };
  }
  const lifetime = na - nb;
  if (lifetime <= 0 || na - nowMs > lifetime * fraction) return undefined;
  return {
    code: 'CERT_EXPIRING_SOON',
    message: `${c.label} expires on ${notAfter}, in ${ago(na - nowMs)}: within the last ${Math.round(fraction * 100)}% of its ${ago(lifetime)} lifetime; it should have been renewed`,
    details: { notAfter, lifetimeMs: lifetime },
  };
}

// ---------------------------------------------------------------- helpers

const EMPTY = Object.freeze([]) as unknown as string[];

/** A copy of a SAN list; empty lists share one array (most leaves carry one URI and nothing else). */
function list(v: readonly string[] | undefined): string[] {
  return v === undefined || v.length === 0 ? EMPTY : [...v];
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list === undefined) m.set(k, [v]);
  else list.push(v);
}

function short(fp: string): string {
  return `sha256:${fp.slice(0, 12)}`;
}

/** How a certificate is named in messages: its mesh identity, its subject, a DNS SAN, or its fingerprint. */
export function label(e: {
  meshIdentity: string | null;
  subject: string;
  fingerprint: string;
  san?: SubjectAltNames;
}): string {
  if (e.meshIdentity) return e.meshIdentity;
  if (e.subject) return `"${e.subject}"`;
  const dns = e.san?.dnsNames[0];
  return dns ? `DNS:${dns}` : short(e.fingerprint);
}

/** Curves the kernel labels by OID only (it names P-256/384/521 and secp256k1). */
const CURVE_BITS: Record<string, number> = {
  '1.2.840.10045.3.1.1': 192, // prime192v1 / P-192
  '1.3.132.0.33': 224, // secp224r1 / P-224
  '1.3.132.0.8': 160, // secp160r1
  '1.3.132.0.9': 160, // secp160k1
  '1.3.132.0.31': 192, // secp192k1
  '1.3.132.0.32': 224, // secp224k1
  '1.3.36.3.3.2.8.1.1.7': 256, // brainpoolP256r1
  '1.3.36.3.3.2.8.1.1.11': 384, // brainpoolP384r1
};

function keySizeOf(alg: string): number | null {
  const rsa = /^RSA(?:-PSS)? (\d+)$/.exec(alg);
  if (rsa) return Number(rsa[1]);
  const ec = /^EC (?:P-|secp)(\d+)/.exec(alg);
  if (ec) return Number(ec[1]);
  const oid = /^EC ([\d.]+)$/.exec(alg);
  if (oid) return CURVE_BITS[oid[1]!] ?? null;
  if (alg === 'Ed25519') return 256;
  if (alg === 'Ed448') return 456;
  return null;
}

function weakness(alg: string, minRsa: number, minEc: number): string | undefined {
  const size = keySizeOf(alg);
  if (size === null) return undefined;
  if (alg.startsWith('RSA') && size < minRsa) return `${alg} is below ${minRsa} bits`;
  if (alg.startsWith('EC') && size < minEc) return `${alg} is below ${minEc} bits`;
  return undefined;
}

function ago(ms: number): string {
  const abs = Math.abs(ms);
  if (abs >= 2 * DAY_MS) return `${Math.round(abs / DAY_MS)} days`;
  if (abs >= 2 * 3_600_000) return `${Math.round(abs / 3_600_000)}h`;
  if (abs >= 120_000) return `${Math.round(abs / 60_000)} min`;
  return `${Math.round(abs / 1000)}s`;
}
