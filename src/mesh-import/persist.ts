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
  type InventoryJson,
  inventoryJsonOf,
  type Mesh,
  type ProblemCode,
} from './inventory.js';

export interface ImportRecord {
  mesh: Mesh | null;
  cluster: string | null;
  startedAt?: string;
  summary: Record<string, unknown>;
  sources: { kind: string; locator: string; mesh: Mesh | null; cluster: string | null }[];
  certificates: {
    fingerprint: string;
    role: 'anchor' | 'intermediate' | 'workload';
    mesh: Mesh | null;
    cluster: string | null;
    subject: string;
    issuer: string;
    serial: string;
    notBefore: string;
    notAfter: string;
    keyAlgorithm: string;
    keySize: number | null;
    spiffeId: string | null;
    meshIdentity: string | null;
    namespace: string | null;
    serviceAccount: string | null;
    san: string[];
    issuerFingerprint: string | null;
    anchorFingerprint: string | null;
    der: string;
    sources: string[];
  }[];
  problems: { code: string; source: string; message: string; fingerprint: string | null; details: Record<string, unknown> | null }[];
  keys: { source: string; keyType: string; matchesFingerprint: string | null }[];
}

/** The mesh of an import: forced, or the one mesh every certificate belongs to, else null. */
export function importMesh(inv: Inventory): Mesh | null {
  if (inv.mesh !== null) return inv.mesh;
  const meshes = new Set<Mesh>();
  for (const c of [...inv.anchors, ...inv.intermediates, ...inv.workloads]) if (c.mesh !== null) meshes.add(c.mesh);
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
    sources: inv.sources.map((s) => ({ kind: s.kind, locator: s.locator, mesh: inv.mesh ?? s.mesh, cluster: inv.cluster })),
    certificates: all.map((c) => ({
      fingerprint: c.fingerprint,
      role: c.role,
      mesh: c.mesh,
      cluster: c.cluster,
      subject: c.subject,
      issuer: c.issuer,
      serial: c.serial,
      notBefore: c.notBefore,
      notAfter: c.notAfter,
      keyAlgorithm: c.keyAlgorithm,
      keySize: c.keySize,
      spiffeId: c.spiffeId,
      meshIdentity: c.meshIdentity,
      namespace: c.namespace,
      serviceAccount: c.serviceAccount,
      san: [
        ...c.san.uris.map((u) => `URI:${u}`),
        ...c.san.dnsNames.map((d) => `DNS:${d}`),
        ...c.san.ips.map((i) => `IP:${i}`),
        ...c.san.emails.map((m) => `email:${m}`),
      ],
      issuerFingerprint: c.issuerFingerprint,
      anchorFingerprint: c.anchorFingerprint,
      der: c.derBase64,
      sources: c.sources,
    })),
    problems: inv.problems.map((p) => ({
      code: p.code,
      source: p.source,
      message: p.message,
      fingerprint: p.fingerprint ?? null,
      details: p.details ?? null,
    })),
    keys: inv.keys.map((k) => ({ source: k.source, keyType: k.keyType, matchesFingerprint: k.matchesFingerprint })),
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
  const problems: { code: string; source: string; message: string; fingerprint?: string | null }[] = loaded.problems.filter(
    (p) => !timeCodes.has(p.code) && (p.fingerprint === null || shown.has(p.fingerprint)),
  );
  for (const v of views) {
    const f = validityFinding({ notBefore: v.notBefore, notAfter: v.notAfter, isCa: v.role !== 'workload', label: label(v) }, opts.nowMs, opts);
    if (f === undefined) continue;
    problems.push({ code: f.code satisfies ProblemCode, source: [...v.sources].sort()[0] ?? '', message: f.message, fingerprint: v.fingerprint });
  }
  return inventoryJsonOf(
    views.filter((v) => v.role === 'anchor'),
    views.filter((v) => v.role === 'intermediate'),
    views.filter((v) => v.role === 'workload'),
    problems,
  );
}
