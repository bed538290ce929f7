/**
 * Test helpers for the cutover: generated meshes written as the files teams export, a
 * SPIRE-like CA that issues the "after" certificates, SPIRE entry dumps, and the CLI run
 * in-process exactly as a user types it.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { stringify } from 'yaml';
import { Capture } from '../../src/cli/output.js';
import { runCli } from '../../src/cli/program.js';
import { generateIstioMesh } from '../../src/demo/mesh.js';
import {
  createDevCa,
  type DevCa,
  EKU,
  type IssuedCertificate,
  type Issuer,
  issueCertificate,
  mintX509Svid,
} from '../../src/devca/index.js';
import { SpiffeId, TrustDomain } from '../../src/spiffe/spiffeid/index.js';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  // biome-ignore lint/suspicious/noExplicitAny: the tests assert the JSON contracts field by field
  json: () => any;
}

/** Runs the CLI in-process, as typed, and captures what it says. */
export async function meshbridge(
  argv: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(argv, {
    stdout,
    stderr,
    stdin: Readable.from([]),
    env: { ...opts.env, NO_COLOR: '1' },
    cwd: opts.cwd,
  });
  return { code, stdout: stdout.text, stderr: stderr.text, json: () => JSON.parse(stdout.text) };
}

function write(path: string, content: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
}

// ---------------------------------------------------------------- Istio

export interface MeshWorkload {
  namespace: string;
  serviceAccount: string;
  /** The mesh identity (Istio SPIFFE ID, Linkerd DNS identity). */
  identity: string;
  fingerprint: string;
}

export interface GeneratedMesh {
  root: IssuedCertificate;
  intermediate: IssuedCertificate;
  workloads: MeshWorkload[];
  /** The folder written. */
  dir: string;
}

/**
 * A two-namespace Istio mesh (plug-in CA), written as `root-cert.pem`, `ca-cert.pem` and
 * one `<ns>-<sa>.pem` (leaf + signing CA, as istio-agent serves it) per workload.
 * `longLived` names workloads (`ns/sa`) whose leaf lives 90 days instead of 24 hours.
 */
export function writeIstioMesh(
  dir: string,
  now: Date,
  namespaces: Record<string, string[]>,
  opts: { longLived?: string[] } = {},
): GeneratedMesh {
  const mesh = generateIstioMesh({ clock: () => now, namespaces });
  write(join(dir, 'root-cert.pem'), mesh.root.pem);
  write(join(dir, 'ca-cert.pem'), mesh.intermediate.pem);
  const workloads: MeshWorkload[] = [];
  const issuer: Issuer = {
    subject: 'O=Istio,CN=Istio CA',
    privateKey: mesh.intermediateKey,
    publicKey: createPublicKey(mesh.intermediateKey),
  };
  for (const w of mesh.workloads) {
    let leaf = w.chain[0]!;
    if (opts.longLived?.includes(`${w.namespace}/${w.serviceAccount}`)) {
      // Re-issued by the same CA with a 90-day lifetime.
      const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      leaf = issueCertificate(
        {
          subject: '',
          publicKey: pair.publicKey,
          notBefore: new Date(now.getTime() - 120_000),
          notAfter: new Date(now.getTime() + 90 * DAY),
          keyUsage: ['digitalSignature', 'keyEncipherment'],
          keyUsageCritical: false,
          extKeyUsage: [EKU.serverAuth, EKU.clientAuth],
          uris: [w.meshIdentity],
        },
        issuer,
      );
    }
    write(join(dir, 'workloads', `${w.namespace}-${w.serviceAccount}.pem`), leaf.pem + mesh.intermediate.pem);
    workloads.push({
      namespace: w.namespace,
      serviceAccount: w.serviceAccount,
      identity: w.meshIdentity,
      fingerprint: leaf.fingerprint,
    });
  }
  return { root: mesh.root, intermediate: mesh.intermediate, workloads, dir };
}

// ---------------------------------------------------------------- Linkerd

/**
 * A Linkerd mesh as the identity controller builds it: a trust anchor
 * (`CN=root.linkerd.cluster.local`), the issuer (`CN=identity.linkerd.cluster.local`)
 * and leaves whose CN and only SAN are the DNS identity
 * `<sa>.<ns>.serviceaccount.identity.linkerd.cluster.local`, no basicConstraints, no SKI,
 * 24h + 20s. Written as `trust-anchor.pem`, `issuer.pem` and `proxies/<ns>-<sa>.pem`
 * (leaf + issuer).
 */
export function writeLinkerdMesh(
  dir: string,
  now: Date,
  namespaces: Record<string, string[]>,
): GeneratedMesh {
  const anchorKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const anchorSubject = 'CN=root.linkerd.cluster.local';
  const anchor = issueCertificate(
    {
      subject: anchorSubject,
      publicKey: anchorKeys.publicKey,
      notBefore: new Date(now.getTime() - DAY),
      notAfter: new Date(now.getTime() + 3650 * DAY),
      ca: true,
      pathLen: 1,
      keyUsage: ['keyCertSign', 'cRLSign'],
    },
    { subject: anchorSubject, privateKey: anchorKeys.privateKey, publicKey: anchorKeys.publicKey },
  );
  const issuerKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issuerSubject = 'CN=identity.linkerd.cluster.local';
  const issuerCert = issueCertificate(
    {
      subject: issuerSubject,
      publicKey: issuerKeys.publicKey,
      notBefore: new Date(now.getTime() - DAY),
      notAfter: new Date(now.getTime() + 365 * DAY),
      ca: true,
      pathLen: 0,
      keyUsage: ['keyCertSign', 'cRLSign'],
    },
    { subject: anchorSubject, privateKey: anchorKeys.privateKey, publicKey: anchorKeys.publicKey },
  );
  write(join(dir, 'trust-anchor.pem'), anchor.pem);
  write(join(dir, 'issuer.pem'), issuerCert.pem);
  const workloads: MeshWorkload[] = [];
  let serial = 1;
  for (const [ns, accounts] of Object.entries(namespaces)) {
    for (const sa of accounts) {
      const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const identity = `${sa}.${ns}.serviceaccount.identity.linkerd.cluster.local`;
      const leaf = issueCertificate(
        {
          subject: `CN=${identity}`,
          publicKey: keys.publicKey,
          serial: BigInt(serial++),
          notBefore: new Date(now.getTime() - 20_000),
          notAfter: new Date(now.getTime() + DAY + 20_000),
          basicConstraints: false,
          keyUsage: ['digitalSignature', 'keyEncipherment'],
          extKeyUsage: [EKU.serverAuth, EKU.clientAuth],
          dnsNames: [identity],
          subjectKeyIdentifier: false,
        },
        { subject: issuerSubject, privateKey: issuerKeys.privateKey, publicKey: issuerKeys.publicKey },
      );
      write(join(dir, 'proxies', `${ns}-${sa}.pem`), leaf.pem + issuerCert.pem);
      workloads.push({ namespace: ns, serviceAccount: sa, identity, fingerprint: leaf.fingerprint });
    }
  }
  return { root: anchor, intermediate: issuerCert, workloads, dir };
}

// ---------------------------------------------------------------- SPIRE

export interface Spire {
  ca: DevCa;
  trustDomain: string;
  /** `spire-server bundle show` as PEM. */
  bundleFile: string;
}

export function createSpire(dir: string, now: Date, trustDomain = 'example.org'): Spire {
  const ca = createDevCa(TrustDomain.parse(trustDomain), { clock: () => now, days: 3650 });
  const bundleFile = join(dir, 'spire-bundle.pem');
  write(bundleFile, ca.root.pem);
  return { ca, trustDomain, bundleFile };
}

/**
 * SPIRE-issued SVIDs for `workloads` (`spiffe://<td>/ns/<ns>/sa/<sa>`), written to
 * `dir/<ns>-<sa>.pem`; with `withBundle` the SPIRE root goes into the same folder (the
 * import then links the leaves to it), else the leaves are imported alone.
 */
export function writeSpireSvids(
  spire: Spire,
  dir: string,
  now: Date,
  workloads: readonly { namespace: string; serviceAccount: string }[],
  opts: { ttlSeconds?: number; withBundle?: boolean } = {},
): string[] {
  const fingerprints: string[] = [];
  for (const w of workloads) {
    const id = SpiffeId.parse(`spiffe://${spire.trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}`);
    const svid = mintX509Svid(spire.ca, id, {
      clock: () => now,
      ttlSeconds: opts.ttlSeconds ?? 365 * 86_400,
    });
    write(join(dir, `${w.namespace}-${w.serviceAccount}.pem`), svid.certPem);
    fingerprints.push(svid.chain[0]!.fingerprint);
  }
  if (opts.withBundle) write(join(dir, 'bundle.pem'), spire.ca.root.pem);
  return fingerprints;
}

/** A `spire-server entry show -output json` dump holding an entry for each ID. */
export function writeEntryDump(path: string, trustDomain: string, ids: readonly string[]): void {
  const entries = ids.map((id, i) => {
    const u = new URL(id);
    return {
      id: `entry-${i + 1}`,
      spiffe_id: { trust_domain: u.host, path: u.pathname },
      parent_id: { trust_domain: trustDomain, path: '/k8s/east/nodes' },
      selectors: [
        { type: 'k8s', value: `ns:${u.pathname.split('/')[2]}` },
        { type: 'k8s', value: `sa:${u.pathname.split('/')[4]}` },
      ],
      x509_svid_ttl: 3600,
      jwt_svid_ttl: 300,
      hint: 'meshbridge',
      revision_number: '0',
      created_at: '1700000000',
    };
  });
  write(path, JSON.stringify({ entries, next_page_token: '' }, null, 2));
}

/** Mapping rules: every mesh identity to `spiffe://<td>/ns/{namespace}/sa/{serviceAccount}`. */
export function writeRules(path: string, trustDomain: string): void {
  write(
    path,
    stringify({
      version: 1,
      trustDomain,
      rules: [{ name: 'k8s', spiffeId: 'spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}' }],
    }),
  );
}

export function writeEdges(path: string, edges: [string, string][]): void {
  write(path, stringify({ edges: edges.map(([source, destination]) => ({ source, destination })) }));
}

export function codesOf(blockers: { code: string }[]): string[] {
  return [...new Set(blockers.map((b) => b.code))].sort();
}
