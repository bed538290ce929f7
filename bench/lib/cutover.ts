/**
 * A big cutover state for the status benchmark and its test: COUNT workloads of one Istio
 * mesh in CLUSTERS clusters x NAMESPACES namespaces, a share of them re-imported with
 * SPIRE-issued certificates, a stored mapping, SPIRE's root and an entry dump (one mapped
 * ID in ten missing), an edge list, and scopes spread over every phase the ladder allows.
 *
 * Certificates are rows, not real certificates (nothing on the status path parses them):
 * fingerprints are hashes, DER is a placeholder, chains are given by anchor fingerprint.
 * SPIRE's root is a real certificate, as `spire sync` stores it.
 */
import { createHash } from 'node:crypto';
import { recordObservationsFromInventory } from '../../src/cutover/index.js';
import { dbOf, transact } from '../../src/cutover/schema.js';
import { createDevCa } from '../../src/devca/index.js';
import { TrustDomain } from '../../src/spiffe/spiffeid/index.js';
import { saveTrustRoots } from '../../src/store/dual-trust-repo.js';
import { type CertRow, type SaveImportInput, type Store, saveImport } from '../../src/store/index.js';
import { saveMappingRun, saveSpireEntryDump } from '../../src/store/mapping-repo.js';

export interface ScaleOptions {
  workloads: number;
  clusters?: number;
  namespaces?: number;
  /** Share of workloads re-imported with a SPIRE-issued certificate (default 0.3). */
  onSpire?: number;
  edges?: number;
  now?: Date;
}

export interface ScaleSeed {
  workloads: number;
  namespaces: number;
  scopes: number;
  seconds: { import: number; ingest: number; rest: number };
}

const fp = (s: string) => createHash('sha256').update(s).digest('hex');
const DER = 'AAAA';

export async function seedCutoverScale(store: Store, opts: ScaleOptions): Promise<ScaleSeed> {
  const now = opts.now ?? new Date();
  const clusters = opts.clusters ?? 4;
  const perCluster = opts.namespaces ?? 100;
  const nsCount = clusters * perCluster;
  const perNs = Math.ceil(opts.workloads / nsCount);
  const iso = (ms: number) => new Date(now.getTime() + ms).toISOString();
  const spire = createDevCa(TrustDomain.parse('example.org'), { clock: () => now, days: 3650 });
  const meshAnchor = fp('mesh-anchor');
  const t0 = performance.now();

  await saveTrustRoots(store, {
    origin: 'spire',
    trustDomain: 'example.org',
    source: 'bench',
    rows: [{ kind: 'x509-svid', keyId: spire.root.fingerprint, material: spire.root.der.toString('base64') }],
  });

  const anchor = (fingerprint: string, subject: string): CertRow => ({
    fingerprint,
    role: 'anchor',
    subject,
    issuer: subject,
    serial: '01',
    notBefore: iso(-86_400_000),
    notAfter: iso(3650 * 86_400_000),
    keyAlgorithm: 'EC P-256',
    der: DER,
    anchorFingerprint: fingerprint,
    issuerFingerprint: fingerprint,
  });
  const meshCerts: CertRow[] = [anchor(meshAnchor, 'O=Istio,CN=Root CA')];
  const spireCerts: CertRow[] = [
    {
      ...anchor(spire.root.fingerprint, 'O=meshbridge dev CA,CN=example.org'),
      der: spire.root.der.toString('base64'),
    },
  ];
  const mappings: Parameters<typeof saveMappingRun>[1]['mappings'] = [];
  const entries: Parameters<typeof saveSpireEntryDump>[1]['entries'] = [];
  let n = 0;
  for (let c = 0; c < clusters; c++) {
    for (let k = 0; k < perCluster; k++) {
      const ns = `ns-${String(k).padStart(3, '0')}`;
      for (let w = 0; w < perNs && n < opts.workloads; w++, n++) {
        const sa = `sa-${w}`;
        const meshIdentity = `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
        const spiffeId = `spiffe://example.org/c${c}/ns/${ns}/sa/${sa}`;
        const leaf = fp(`mesh-${c}-${ns}-${sa}`);
        meshCerts.push({
          fingerprint: leaf,
          role: 'workload',
          cluster: `c${c}`,
          subject: '',
          issuer: 'O=Istio,CN=Root CA',
          serial: n.toString(16),
          notBefore: iso(-3_600_000),
          // One certificate in a hundred lives long: the overlap check has something to find.
          notAfter: iso(n % 100 === 0 ? 90 * 86_400_000 : 86_400_000),
          keyAlgorithm: 'EC P-256',
          spiffeId: meshIdentity,
          meshIdentity,
          namespace: ns,
          serviceAccount: sa,
          san: [`URI:${meshIdentity}`],
          issuerFingerprint: meshAnchor,
          anchorFingerprint: meshAnchor,
          der: DER,
        });
        mappings.push({
          fingerprint: leaf,
          mesh: 'istio',
          cluster: `c${c}`,
          meshIdentity,
          namespace: ns,
          serviceAccount: sa,
          spiffeId,
          rule: 0,
          owner: null,
        });
        if (n % 10 !== 7) {
          entries.push({
            id: `e-${n}`,
            spiffeId,
            parentId: `spiffe://example.org/k8s/c${c}/nodes`,
            selectors: [{ type: 'k8s', value: `ns:${ns}` }],
            x509SvidTtl: 3600,
            jwtSvidTtl: 300,
            federatesWith: [],
            dnsNames: [],
            hint: 'meshbridge',
            admin: false,
            downstream: false,
            storeSvid: false,
            expiresAt: 0,
            revisionNumber: 0,
            meshbridgeOwned: true,
          });
        }
        if ((n * 7919) % 1000 < (opts.onSpire ?? 0.3) * 1000) {
          spireCerts.push({
            fingerprint: fp(`spire-${c}-${ns}-${sa}`),
            role: 'workload',
            cluster: `c${c}`,
            subject: 'O=meshbridge dev',
            issuer: 'O=meshbridge dev CA,CN=example.org',
            serial: n.toString(16),
            notBefore: iso(0),
            notAfter: iso(3_600_000),
            keyAlgorithm: 'EC P-256',
            spiffeId,
            meshIdentity: spiffeId,
            namespace: ns,
            serviceAccount: sa,
            san: [`URI:${spiffeId}`],
            issuerFingerprint: spire.root.fingerprint,
            anchorFingerprint: spire.root.fingerprint,
            der: DER,
          });
        }
      }
    }
  }
  const importOf = (certificates: CertRow[], locator: string): SaveImportInput => ({
    mesh: 'istio',
    sources: [{ kind: 'pem-file', locator }],
    certificates: certificates.map((c) => ({ ...c, sources: [locator] })),
  });
  let at = now.getTime();
  await saveImport(store, importOf(meshCerts, 'mesh.pem'), { clock: () => new Date(at++) });
  await saveMappingRun(store, {
    trustDomain: 'example.org',
    rulesHash: fp('rules'),
    rulesVersion: 1,
    rulesFile: null,
    rules: JSON.stringify({
      version: 1,
      trustDomain: 'example.org',
      rules: [{ spiffeId: 'spiffe://{trustDomain}/{cluster}/ns/{namespace}/sa/{serviceAccount}' }],
    }),
    meshbridgeVersion: 'bench',
    mappings,
  });
  at += 1000;
  await saveImport(store, importOf(spireCerts, 'spire.pem'), { clock: () => new Date(at++) });
  const t1 = performance.now();
  await recordObservationsFromInventory(store, { clock: () => now });
  const t2 = performance.now();
  await saveSpireEntryDump(store, { source: 'bench', sha256: fp('dump'), entries });

  // Phases: the mesh in inventoried; c0 in dual-issue (half its namespaces spiffe-only),
  // c1 in dual-trust (half its namespaces dual-issue), the rest split inventoried / dual-trust.
  const db = dbOf(store);
  await transact(store, async (trx) => {
    for (let c = 0; c < clusters; c++) {
      const cluster = c === 0 ? 'dual-issue' : c === 1 ? 'dual-trust' : 'inventoried';
      await trx
        .updateTable('cutover_scopes')
        .set({ phase: cluster, version: 1 })
        .where('scope', '=', `istio/c${c}`)
        .execute();
      for (let k = 0; k < perCluster; k++) {
        const ns = `istio/c${c}/ns-${String(k).padStart(3, '0')}`;
        const ahead = k % 2 === 0;
        const phase =
          c === 0
            ? ahead
              ? 'spiffe-only'
              : 'dual-issue'
            : c === 1
              ? ahead
                ? 'dual-issue'
                : 'dual-trust'
              : ahead
                ? 'dual-trust'
                : 'inventoried';
        await trx.updateTable('cutover_scopes').set({ phase, version: 1 }).where('scope', '=', ns).execute();
      }
    }
  });
  const edges = opts.edges ?? 5000;
  if (edges > 0) {
    const rows: {
      id: string;
      source: string;
      destination: string;
      source_key: string;
      destination_key: string;
      list: string;
      added_at: string;
    }[] = [];
    for (let i = 0; i < edges; i++) {
      const a = `ns/ns-${String(i % perCluster).padStart(3, '0')}/sa/sa-${i % perNs}`;
      const b = `ns/ns-${String((i * 31) % perCluster).padStart(3, '0')}/sa/sa-${(i * 7) % perNs}`;
      rows.push({
        id: `edge-${i}`,
        source: a,
        destination: b,
        source_key: a,
        destination_key: b,
        list: 'bench',
        added_at: iso(0),
      });
    }
    await transact(store, async (trx) => {
      for (let i = 0; i < rows.length; i += 1000)
        await trx
          .insertInto('cutover_edges')
          .values(rows.slice(i, i + 1000))
          .execute();
      await trx
        .updateTable('cutover_state')
        .set({ serial: 1, value: 'bench' })
        .where('name', '=', 'edges')
        .execute();
    });
  }
  await recordObservationsFromInventory(store, { clock: () => now });
  const t3 = performance.now();
  const scopes = await db
    .selectFrom('cutover_scopes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return {
    workloads: n,
    namespaces: nsCount,
    scopes: Number(scopes.n),
    seconds: { import: (t1 - t0) / 1000, ingest: (t2 - t1) / 1000, rest: (t3 - t2) / 1000 },
  };
}
