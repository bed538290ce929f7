/**
 * The inventory as the state store takes and gives it back. `src/mesh-import/` may not
 * import the store, so these are structural mirrors of its row types
 * (`SaveImportInput`, `LoadedInventory`): the CLI hands one to the other and the
 * compiler checks that they fit.
 */
import { label, TIME_PROBLEM_CODES, type ValidityOptions, validityFinding } from './build.js';
import {
  type CertificateView,
  type Inventory,
  type InventoryCertificate,
  type InventoryJson,
  inventoryJsonOf,
  type Mesh,
  type ProblemCode,
} from './inventory.js';

/** One certificate row as `saveImport` takes it (the store's `CertRow`). */
export interface CertificateRecord {
  readonly fingerprint: string;
  readonly role: 'anchor' | 'intermediate' | 'workload';
  readonly mesh: Mesh | null;
  readonly cluster: string | null;
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly keyAlgorithm: string;
  readonly keySize: number | null;
  readonly spiffeId: string | null;
  readonly meshIdentity: string | null;
  readonly namespace: string | null;
  readonly serviceAccount: string | null;
  /** `URI:...`, `DNS:...`, `IP:...`, `email:...` */
  readonly san: string[];
  readonly issuerFingerprint: string | null;
  readonly anchorFingerprint: string | null;
  /** base64 DER */
  readonly der: string;
  readonly sources: string[];
}

/**
 * A certificate row read through from the inventory: no copy of its fields, so a 100k
 * import does not hold every certificate twice while the store writes it.
 */
class CertificateRow implements CertificateRecord {
  constructor(private readonly c: InventoryCertificate) {}
  get fingerprint() {
    return this.c.fingerprint;
  }
  get role() {
    return this.c.role;
  }
  get mesh() {
    return this.c.mesh;
  }
  get cluster() {
    return this.c.cluster;
  }
  get subject() {
    return this.c.subject;
  }
  get issuer() {
    return this.c.issuer;
  }
  get serial() {
    return this.c.serial;
  }
  get notBefore() {
    return this.c.notBefore;
  }
  get notAfter() {
    return this.c.notAfter;
  }
  get keyAlgorithm() {
    return this.c.keyAlgorithm;
  }
  get keySize() {
    return this.c.keySize;
  }
  get spiffeId() {
    return this.c.spiffeId;
  }
  get meshIdentity() {
    return this.c.meshIdentity;
  }
  get namespace() {
    return this.c.namespace;
  }
  get serviceAccount() {
    return this.c.serviceAccount;
  }
  get san(): string[] {
    const s = this.c.san;
    return [
      ...s.uris.map((u) => `URI:${u}`),
      ...s.dnsNames.map((d) => `DNS:${d}`),
      ...s.ips.map((i) => `IP:${i}`),
      ...s.emails.map((m) => `email:${m}`),
    ];
  }
  get issuerFingerprint() {
    return this.c.issuerFingerprint;
  }
  get anchorFingerprint() {
    return this.c.anchorFingerprint;
  }
  get der() {
    return this.c.derBase64;
  }
  get sources() {
    return this.c.sources;
  }
  toJSON(): CertificateRecord {
    return certificateRecord(this.c);
  }
}

function certificateRecord(c: InventoryCertificate): CertificateRecord {
  const r = new CertificateRow(c);
  return {
    fingerprint: r.fingerprint,
    role: r.role,
    mesh: r.mesh,
    cluster: r.cluster,
    subject: r.subject,
    issuer: r.issuer,
    serial: r.serial,
    notBefore: r.notBefore,
    notAfter: r.notAfter,
    keyAlgorithm: r.keyAlgorithm,
    keySize: r.keySize,
    spiffeId: r.spiffeId,
    meshIdentity: r.meshIdentity,
    namespace: r.namespace,
    serviceAccount: r.serviceAccount,
    san: r.san,
    issuerFingerprint: r.issuerFingerprint,
    anchorFingerprint: r.anchorFingerprint,
    der: r.der,
    sources: r.sources,
  };
}

export interface ImportRecord {
  mesh: Mesh | null;
  cluster: string | null;
  startedAt?: string;
  summary: Record<string, unknown>;
  sources: { kind: string; locator: string; mesh: Mesh | null; cluster: string | null }[];
  certificates: CertificateRecord[];
  problems: {
    code: string;
    source: string;
    message: string;
    fingerprint: string | null;
    details: Record<string, unknown> | null;
  }[];
  keys: { source: string; keyType: string; matchesFingerprint: string | null }[];
}

/** The mesh of an import: forced, or the one mesh every certificate belongs to, else null. */
export function importMesh(inv: Inventory): Mesh | null {
  if (inv.mesh !== null) return inv.mesh;
  const meshes = new Set<Mesh>();
  for (const c of [...inv.anchors, ...inv.intermediates, ...inv.workloads])
    if (c.mesh !== null) meshes.add(c.mesh);
  return meshes.size === 1 ? [...meshes][0]! : null;
}

/** Maps an inventory onto the store's `saveImport` input. No private key material exists to map. */
export function toImportRecord(inv: Inventory, opts: { startedAt?: string } = {}): ImportRecord {
  const all = [...inv.anchors, ...inv.intermediates, ...inv.workloads];
  const record: ImportRecord = {
    mesh: importMesh(inv),
    cluster: inv.cluster,
    summary: {
      evaluatedAt: inv.evaluatedAt,
      files: inv.stats.files,
      skippedFiles: inv.stats.skippedFiles,
      certificatesSeen: inv.stats.certificatesSeen,
      anchors: inv.anchors.length,
      intermediates: inv.intermediates.length,
      workloads: inv.workloads.length,
    },
    sources: inv.sources.map((s) => ({
      kind: s.kind,
      locator: s.locator,
      mesh: inv.mesh ?? s.mesh,
      cluster: inv.cluster,
    })),
    certificates: all.map((c) => new CertificateRow(c)),
    problems: inv.problems.map((p) => ({
      code: p.code,
      source: p.source,
      message: p.message,
      fingerprint: p.fingerprint ?? null,
      details: p.details ?? null,
    })),
    keys: inv.keys.map((k) => ({
      source: k.source,
      keyType: k.keyType,
      matchesFingerprint: k.matchesFingerprint,
    })),
  };
  if (opts.startedAt !== undefined) record.startedAt = opts.startedAt;
  return record;
}

/** The parts of the store's `LoadedInventory` the JSON contract needs. */
export interface StoredInventory {
  sources: { id: string; locator: string }[];
  certificates: {
    fingerprint: string;
    role: 'anchor' | 'intermediate' | 'workload';
    mesh: string | null;
    cluster: string | null;
    subject: string;
    serial: string;
    notBefore: string;
    notAfter: string;
    keyAlgorithm: string;
    spiffeId: string | null;
    meshIdentity: string | null;
    namespace: string | null;
    serviceAccount: string | null;
    anchorFingerprint: string | null;
    sourceIds: string[];
  }[];
  problems: { code: string; source: string; message: string; fingerprint: string | null }[];
}

export interface StoredViewOptions extends ValidityOptions {
  /** The instant to judge validity at (ms since the epoch). */
  nowMs: number;
}

/**
 * The JSON contract from stored rows. Validity problems (expired, not yet valid, expiring
 * soon) are judged again at `nowMs` from the stored dates, so a stored inventory never
 * shows yesterday's verdict; the other problems are the ones the latest import found.
 */
export function storedInventoryJson(loaded: StoredInventory, opts: StoredViewOptions): InventoryJson {
  const locatorOf = new Map(loaded.sources.map((s) => [s.id, s.locator]));
  const views: (CertificateView & { role: string })[] = loaded.certificates.map((c) => ({
    ...c,
    sources: c.sourceIds.map((id) => locatorOf.get(id) ?? id),
  }));
  const shown = new Set(views.map((v) => v.fingerprint));
  const timeCodes = new Set<string>(TIME_PROBLEM_CODES);
  const problems: { code: string; source: string; message: string; fingerprint?: string | null }[] =
    loaded.problems.filter(
      (p) => !timeCodes.has(p.code) && (p.fingerprint === null || shown.has(p.fingerprint)),
    );
  for (const v of views) {
    const f = validityFinding(
      { notBefore: v.notBefore, notAfter: v.notAfter, isCa: v.role !== 'workload', label: label(v) },
      opts.nowMs,
      opts,
    );
    if (f === undefined) continue;
    problems.push({
      code: f.code satisfies ProblemCode,
      source: [...v.sources].sort()[0] ?? '',
      message: f.message,
      fingerprint: v.fingerprint,
    });
  }
  return inventoryJsonOf(
    views.filter((v) => v.role === 'anchor'),
    views.filter((v) => v.role === 'intermediate'),
    views.filter((v) => v.role === 'workload'),
    problems,
  );
}
