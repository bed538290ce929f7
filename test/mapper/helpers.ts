import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MappableWorkload } from '../../src/mapper/index.js';
import {
  InventoryBuilder,
  listInputFiles,
  readInputFiles,
  toImportRecord,
} from '../../src/mesh-import/index.js';
import type { Mesh } from '../../src/mesh-import/inventory.js';
import { openStore, type Store, saveImport } from '../../src/store/index.js';

export const FIXTURES = '/work/shared/fixtures';
export const ISTIO = join(FIXTURES, 'istio');
export const LINKERD = join(FIXTURES, 'linkerd');

/** Istio workload leaves of the shared fixtures. */
export const ISTIO_WORKLOAD_FILES = [
  'workload-foo-cert.pem', // spiffe://trust-domain-foo/ns/foo/sa/foo
  'testcerts-default_cert-chain.pem', // spiffe://cluster.local/ns/default/sa/default
  'testcerts-mountedcerts-server_cert-chain.pem', // spiffe://cluster.local/ns/mounted-certs/sa/server
  'selfsigned-ca_workload-cert-chain.pem', // spiffe://cluster.local/ns/istio-system/sa/prometheus
].map((f) => join(ISTIO, f));

/** Linkerd workload leaves (DNS identities). */
export const LINKERD_WORKLOAD_FILES = [
  'proxy-integration_foo-ns1_ca1-cert.pem', // foo.ns1.serviceaccount.identity.linkerd.cluster.local
  'proxy-integration_default-default_ca1-cert.pem', // default.default.serviceaccount.identity.linkerd.cluster.local
  'proxy-integration_ca1.pem',
].map((f) => join(LINKERD, f));

/** Imports files through the inventory's own reader and builder (issue 3), as `meshbridge import` does. */
export async function importInto(
  store: Store,
  paths: string[],
  opts: { mesh: Mesh | null; cluster: string | null },
): Promise<void> {
  const files = await listInputFiles(paths, {});
  const builder = new InventoryBuilder({
    mesh: opts.mesh,
    cluster: opts.cluster,
    clock: () => new Date('2026-11-23T00:00:00Z'),
  });
  for await (const ex of readInputFiles(files, { mesh: opts.mesh })) builder.add(ex);
  await saveImport(store, toImportRecord(await builder.finish()));
}

export interface TempStore {
  dir: string;
  db: string;
  store: Store;
  cleanup(): Promise<void>;
}

export async function tempStore(): Promise<TempStore> {
  const dir = mkdtempSync(join(tmpdir(), 'meshbridge-map-'));
  const db = join(dir, 'store.db');
  const store = await openStore(db);
  return {
    dir,
    db,
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A hand-made workload record typed as the inventory's (for cases the fixtures do not hold). */
export function workload(
  identity: string | null,
  over: Partial<MappableWorkload> & { n?: number } = {},
): MappableWorkload {
  const n = over.n ?? Math.floor(Math.random() * 1e9);
  return {
    fingerprint: over.fingerprint ?? n.toString(16).padStart(64, '0'),
    mesh: over.mesh ?? null,
    cluster: over.cluster ?? null,
    meshIdentity: identity,
    namespace: over.namespace ?? null,
    serviceAccount: over.serviceAccount ?? null,
    spiffeId: over.spiffeId ?? null,
  };
}
