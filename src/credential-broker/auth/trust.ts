/**
 * The trust material the broker authenticates callers against: a *labelled* bundle
 * set. Per trust domain it holds the X.509 and JWT authorities of every configured
 * source (during a cutover both the mesh CA's roots and SPIRE's), and per authority a
 * label that says which kind of issuer vouched: `mesh`, `spire` or `federated`.
 *
 * Verification still asks for the bundle of the SVID's own trust domain (R20); the
 * label is looked up afterwards by the anchor's fingerprint (or the JWT key's kid),
 * so a policy can require `issuer: spire` once a scope has cut over.
 *
 * Linkerd anchors vouch for DNS identities (`<sa>.<ns>.serviceaccount.identity.<ns>.<td>`),
 * not SPIFFE IDs; they are kept in bundles of their own and are never consulted for a
 * certificate that carries a SPIFFE ID.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { bundleNotFound, type JwtAuthority, JwtBundle } from '../../spiffe/bundle/jwtbundle.js';
import { loadBundle } from '../../spiffe/bundle/load.js';
import type { JwtBundleSource, X509BundleSource } from '../../spiffe/bundle/source.js';
import { X509Bundle } from '../../spiffe/bundle/x509bundle.js';
import { CodedError } from '../../spiffe/errors.js';
import { TrustDomain } from '../../spiffe/spiffeid/index.js';
import type { JwtSource, X509Source } from '../../spiffe/workloadapi/index.js';
import type { Certificate } from '../../spiffe/x509/certificate.js';
import { BrokerError } from '../errors.js';
import type { IssuerKind } from '../schema.js';

export type { IssuerKind } from '../schema.js';
export const ISSUER_KINDS: readonly IssuerKind[] = ['mesh', 'spire', 'federated'];

/** How the certificates an entry's anchors issue name their workload. */
export type IdentityForm = 'spiffe' | 'linkerd-dns';

export interface AnchorLabel {
  kind: IssuerKind;
  /** Operator's name for the source (`istio-prod`, `spire`, `workload-api`). */
  label: string;
  trustDomain: string;
  identityForm: IdentityForm;
}

/** One source of authorities for one trust domain. */
export interface TrustEntry {
  kind: IssuerKind;
  trustDomain: TrustDomain | string;
  label?: string;
  identityForm?: IdentityForm;
  x509?: readonly Certificate[];
  jwt?: readonly JwtAuthority[];
}

/** An immutable, labelled view of every configured authority. */
export class TrustSnapshot implements X509BundleSource, JwtBundleSource {
  /** Changes whenever any authority or label changes (cached verdicts key on it). */
  readonly version: string;
  private readonly x509 = new Map<string, X509Bundle>();
  private readonly linkerd = new Map<string, X509Bundle>();
  private readonly jwt = new Map<string, JwtBundle>();
  private readonly anchorLabels = new Map<string, AnchorLabel>();
  private readonly jwtLabels = new Map<string, AnchorLabel>();
  private readonly jwtFingerprints = new Map<string, string>();

  constructor(readonly entries: readonly TrustEntry[]) {
    const hash = createHash('sha256');
    for (const e of entries) {
      const td = typeof e.trustDomain === 'string' ? TrustDomain.parse(e.trustDomain) : e.trustDomain;
      const form = e.identityForm ?? 'spiffe';
      const label: AnchorLabel = {
        kind: e.kind,
        label: e.label ?? e.kind,
        trustDomain: td.name,
        identityForm: form,
      };
      const target = form === 'linkerd-dns' ? this.linkerd : this.x509;
      let bundle = target.get(td.name);
      if (bundle === undefined) {
        bundle = new X509Bundle(td);
        target.set(td.name, bundle);
      }
      for (const cert of e.x509 ?? []) {
        bundle.addAuthority(cert);
        if (!this.anchorLabels.has(cert.fingerprint)) this.anchorLabels.set(cert.fingerprint, label);
        hash.update(`x|${td.name}|${form}|${label.kind}|${label.label}|${cert.fingerprint}\n`);
      }
      if (form === 'linkerd-dns') continue;
      let jb = this.jwt.get(td.name);
      if (jb === undefined) {
        jb = new JwtBundle(td);
        this.jwt.set(td.name, jb);
      }
      for (const a of e.jwt ?? []) {
        const fp = createHash('sha256')
          .update(a.publicKey.export({ format: 'der', type: 'spki' }))
          .digest('hex');
        const existing = jb.findAuthority(a.kid);
        const key = `${td.name}|${a.kid}`;
        if (existing !== undefined && this.jwtFingerprints.get(key) !== fp) {
          throw new BrokerError(
            'TRUST_UNREADABLE',
            `two trust sources of ${td.name} publish different JWT keys under kid "${a.kid}"; a kid must name one key`,
          );
        }
        jb.setAuthority(a);
        this.jwtFingerprints.set(key, fp);
        if (!this.jwtLabels.has(key)) this.jwtLabels.set(key, label);
        hash.update(`j|${td.name}|${label.kind}|${label.label}|${a.kid}|${fp}\n`);
      }
    }
    this.version = hash.digest('hex').slice(0, 16);
  }

  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle {
    const b = this.x509.get(td.name);
    if (b === undefined || b.isEmpty()) throw bundleNotFound(td, 'X.509');
    return b;
  }

  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle {
    const b = this.jwt.get(td.name);
    if (b === undefined || b.size === 0) throw bundleNotFound(td, 'JWT');
    return b;
  }

  /** The anchors of Linkerd DNS identities of trust domain `td`, if any are configured. */
  linkerdBundle(td: string): X509Bundle | undefined {
    const b = this.linkerd.get(td);
    return b === undefined || b.isEmpty() ? undefined : b;
  }

  anchorLabel(fingerprint: string): AnchorLabel | undefined {
    return this.anchorLabels.get(fingerprint);
  }

  /** Label and SPKI fingerprint of the JWT authority `kid` of `td`. */
  jwtAuthority(td: string, kid: string): { label: AnchorLabel; fingerprint: string } | undefined {
    const key = `${td}|${kid}`;
    const label = this.jwtLabels.get(key);
    const fingerprint = this.jwtFingerprints.get(key);
    return label === undefined || fingerprint === undefined ? undefined : { label, fingerprint };
  }

  /** Trust domains holding any authority, sorted. */
  trustDomains(): string[] {
    const names = new Set<string>();
    for (const [td, b] of this.x509) if (!b.isEmpty()) names.add(td);
    for (const [td, b] of this.jwt) if (b.size > 0) names.add(td);
    for (const [td, b] of this.linkerd) if (!b.isEmpty()) names.add(td);
    return [...names].sort();
  }

  /** Counts per trust domain and kind, for readiness checks and the dashboard. */
  summary(): { trustDomain: string; kind: IssuerKind; label: string; x509: number; jwt: number }[] {
    const rows = new Map<
      string,
      { trustDomain: string; kind: IssuerKind; label: string; x509: number; jwt: number }
    >();
    const row = (l: AnchorLabel) => {
      const k = `${l.trustDomain}|${l.kind}|${l.label}`;
      let r = rows.get(k);
      if (r === undefined) {
        r = { trustDomain: l.trustDomain, kind: l.kind, label: l.label, x509: 0, jwt: 0 };
        rows.set(k, r);
      }
      return r;
    };
    for (const l of this.anchorLabels.values()) row(l).x509++;
    for (const l of this.jwtLabels.values()) row(l).jwt++;
    return [...rows.values()].sort((a, b) =>
      a.trustDomain === b.trustDomain ? (a.label < b.label ? -1 : 1) : a.trustDomain < b.trustDomain ? -1 : 1,
    );
  }

  isEmpty(): boolean {
    return this.trustDomains().length === 0;
  }
}

/**
 * Where the broker gets its *current* trust material. The dual-trust room's bundle
 * source, a file watcher and a Workload API watcher all fit; the broker asks on
 * every authentication, so a swapped snapshot takes effect at once.
 */
export interface TrustSource {
  current(): TrustSnapshot;
}

export class StaticTrust implements TrustSource {
  private readonly snapshot: TrustSnapshot;

  constructor(entries: readonly TrustEntry[] | TrustSnapshot) {
    this.snapshot = entries instanceof TrustSnapshot ? entries : new TrustSnapshot(entries);
  }

  current(): TrustSnapshot {
    return this.snapshot;
  }
}

// ---------------------------------------------------------------- from files

export interface TrustFileEntry {
  kind: IssuerKind;
  trustDomain: string;
  label?: string;
  identityForm?: IdentityForm;
  /** Bundle files in any form `loadBundle` reads (PEM, DER, SPIFFE bundle, JWKS, bundle map). */
  bundles: string[];
}

/** Reads the files of one entry: X.509 authorities from every file, JWT authorities from JSON ones. */
export function readTrustFileEntry(entry: TrustFileEntry, baseDir = process.cwd()): TrustEntry {
  const x509: Certificate[] = [];
  const jwt: JwtAuthority[] = [];
  for (const file of entry.bundles) {
    const path = resolve(baseDir, file);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      throw new BrokerError(
        'TRUST_UNREADABLE',
        `cannot read trust bundle ${path} (${entry.kind}, ${entry.trustDomain}): ${(err as Error).message}`,
      );
    }
    try {
      const loaded = loadBundle(bytes, { trustDomain: entry.trustDomain });
      x509.push(...(loaded.x509?.authorities() ?? []));
      jwt.push(...(loaded.jwt?.authorities() ?? []));
    } catch (err) {
      const code = err instanceof CodedError ? ` [${err.code}]` : '';
      throw new BrokerError(
        'TRUST_UNREADABLE',
        `trust bundle ${path} (${entry.kind}, ${entry.trustDomain}) is unusable: ${(err as Error).message}${code}`,
        { cause: err },
      );
    }
  }
  return {
    kind: entry.kind,
    trustDomain: entry.trustDomain,
    label: entry.label ?? `${entry.kind}:${entry.trustDomain}`,
    identityForm: entry.identityForm ?? 'spiffe',
    x509,
    jwt,
  };
}

export type TrustStoreEvents = {
  update: [snapshot: TrustSnapshot];
  /** A reload failed; the previous snapshot stays in force. */
  reloadError: [error: Error];
};

export interface WorkloadApiTrustOptions {
  x509?: X509Source;
  jwt?: JwtSource;
  /** Kind of each trust domain the Workload API delivers (default: the SVID's own spire, others federated). */
  kinds?: Record<string, IssuerKind>;
}

/**
 * Trust from files (re-read when their size or mtime changes) and from a SPIRE agent
 * (Workload API watchers), merged into one snapshot. A reload that fails keeps the
 * previous snapshot and emits `reloadError`.
 */
export class TrustStore extends EventEmitter<TrustStoreEvents> implements TrustSource {
  private snapshot: TrustSnapshot;
  private fileEntries: TrustEntry[];
  private stamps: string;
  private timer: NodeJS.Timeout | undefined;
  private readonly onX509 = () => this.rebuild();
  private readonly onJwt = () => this.rebuild();

  constructor(
    private readonly files: readonly TrustFileEntry[],
    private readonly baseDir: string,
    private readonly workloadApi: WorkloadApiTrustOptions = {},
  ) {
    super();
    this.stamps = this.fileStamps();
    this.fileEntries = files.map((f) => readTrustFileEntry(f, baseDir));
    this.snapshot = new TrustSnapshot([...this.fileEntries, ...this.workloadEntries()]);
    workloadApi.x509?.on('update', this.onX509);
    workloadApi.jwt?.on('update', this.onJwt);
  }

  current(): TrustSnapshot {
    return this.snapshot;
  }

  /** Polls the files every `intervalMs` (0: never). */
  watch(intervalMs: number): void {
    this.unwatch();
    if (intervalMs <= 0) return;
    this.timer = setInterval(() => this.reloadIfChanged(), intervalMs);
    this.timer.unref();
  }

  unwatch(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.unwatch();
    this.workloadApi.x509?.off('update', this.onX509);
    this.workloadApi.jwt?.off('update', this.onJwt);
  }

  /** Re-reads the files when any changed; returns whether the snapshot was replaced. */
  reloadIfChanged(): boolean {
    const stamps = this.fileStamps();
    if (stamps === this.stamps) return false;
    try {
      this.fileEntries = this.files.map((f) => readTrustFileEntry(f, this.baseDir));
      this.stamps = stamps;
    } catch (err) {
      this.stamps = stamps; // report a broken file once, not every poll
      this.emit('reloadError', err as Error);
      return false;
    }
    return this.rebuild();
  }

  private rebuild(): boolean {
    let next: TrustSnapshot;
    try {
      next = new TrustSnapshot([...this.fileEntries, ...this.workloadEntries()]);
    } catch (err) {
      this.emit('reloadError', err as Error);
      return false;
    }
    if (next.version === this.snapshot.version) return false;
    this.snapshot = next;
    this.emit('update', next);
    return true;
  }

  private workloadEntries(): TrustEntry[] {
    const out: TrustEntry[] = [];
    const { x509, jwt, kinds = {} } = this.workloadApi;
    let own: string | undefined;
    try {
      own = x509?.context?.svids[0]?.id.trustDomain.name;
    } catch {
      own = undefined;
    }
    const kindOf = (td: string): IssuerKind =>
      kinds[td] ?? (own === undefined || td === own ? 'spire' : 'federated');
    for (const b of x509?.bundles.all() ?? []) {
      out.push({
        kind: kindOf(b.trustDomain.name),
        trustDomain: b.trustDomain,
        label: 'workload-api',
        x509: b.authorities(),
      });
    }
    if (jwt !== undefined) {
      for (const b of jwt.bundles.all()) {
        out.push({
          kind: kindOf(b.trustDomain.name),
          trustDomain: b.trustDomain,
          label: 'workload-api',
          jwt: b.authorities(),
        });
      }
    }
    return out;
  }

  private fileStamps(): string {
    const parts: string[] = [];
    for (const f of this.files) {
      for (const file of f.bundles) {
        try {
          const st = statSync(resolve(this.baseDir, file));
          parts.push(`${file}:${st.size}:${st.mtimeMs}`);
        } catch {
          parts.push(`${file}:missing`);
        }
      }
    }
    return parts.join('|');
  }
}
