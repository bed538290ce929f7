/**
 * The full demo, step by step, each step through the room that owns it:
 *
 *   1 generate   demo/mesh (Istio plug-in CA, two namespaces) + devca (SPIRE-like CA): files in DIR
 *   2 import     mesh-import (readInputFiles, InventoryBuilder, toImportRecord) -> store.saveImport
 *   3 spire      SPIRE roots and JWT key -> store.saveTrustRoots (what `spire sync --bundle` stores)
 *   4 map        mapper (loadRules, mapWorkloads, emit spire-entries) -> store.saveMappingRun;
 *                the entries as SPIRE would list them -> mapper.prepareSpireEntrySync -> store.saveSpireEntryDump
 *   5 bundle     dual-trust (composeTrust, bundleForPhase, emitBundle) -> files + store.publishBundleVersion
 *   6 cutover    cutover.advanceScope: istio/east -> dual-trust (its namespaces along), istio/east/payments -> dual-issue
 *   7 re-issue   payments/api presents a SPIRE SVID: re-imported (mesh-import + store), an observation
 *   8 broker     policy + meshbridge.yaml (credential-broker config, checked by server.loadServeConfig)
 *   9 keys       credential-broker/static-keys StaticKeyLedger: three legacy keys, two brokered
 *  10 serve      server.createServer (dashboard, API, broker, bundle endpoint, metrics) + sample traffic
 *                over mTLS; the broker's sightings recorded as observations (cutover.recordObservations)
 */
import { randomUUID } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:https';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { DestinationStream } from 'pino';
import { StaticKeyLedger } from '../../credential-broker/static-keys/service.js';
import { cutoverStatus } from '../../cutover/status.js';
import { composeFromStore } from '../../cutover/stored-trust.js';
import { advanceScope } from '../../cutover/transitions.js';
import {
  brokerPolicy,
  cacertsSecret,
  DEMO_CLUSTER,
  DEMO_SPIRE_TRUST_DOMAIN,
  mappingRules,
  proxySecretDump,
  rootCertConfigMaps,
  serveYaml,
} from '../../demo/artifacts.js';
import { DEMO_NAMESPACES, generateIstioMesh } from '../../demo/mesh.js';
import { jwtPublicJwk, loadOrCreateDevCa, mintX509Svid, writeSvidFiles } from '../../devca/index.js';
import { ALL_SCOPE, bundleForPhase, emitBundle } from '../../dual-trust/index.js';
import { buildSpireEntries, loadRules, mapWorkloads, prepareSpireEntrySync } from '../../mapper/index.js';
import { canonicalJson } from '../../mapper/rules.js';
import { InventoryBuilder, listInputFiles, readInputFiles, toImportRecord } from '../../mesh-import/index.js';
import {
  createServer,
  loadServeConfig,
  type MeshbridgeServer,
  type ServeConfig,
} from '../../server/index.js';
import { SpiffeId, TrustDomain } from '../../spiffe/spiffeid/index.js';
import { publishBundleVersion, saveTrustRoots } from '../../store/dual-trust-repo.js';
import { loadInventory, openStore, type Store, saveImport } from '../../store/index.js';
import { saveMappingRun, saveSpireEntryDump } from '../../store/mapping-repo.js';
import { UsageError } from '../context.js';

export interface DemoStep {
  step: string;
  ok: boolean;
  detail: string;
  /** Whose code did it. */
  by: string;
}

export interface DemoTraffic {
  as: string;
  presented: 'mesh' | 'spire';
  credential: string;
  status: number;
  code: string;
}

export interface DemoOptions {
  /** The demo folder (fresh every run). */
  dir: string;
  /** The store (default: DIR/meshbridge.db). */
  db?: string;
  dashboardPort: number;
  brokerPort: number;
  env: NodeJS.ProcessEnv;
  /** Progress lines for people (not with --json). */
  say?: (line: string) => void;
}

export interface PreparedDemo {
  dir: string;
  db: string;
  configFile: string;
  steps: DemoStep[];
  /** Files a user points curl at. */
  files: { cert: string; key: string; ca: string; meshCert: string; meshKey: string };
}

const BY = 'meshbridge demo';

/** Steps 1 to 9: everything up to serving. Starts from an empty DIR every time. */
export async function prepareDemo(o: DemoOptions): Promise<PreparedDemo> {
  const say = o.say ?? (() => undefined);
  const dir = resolve(o.dir);
  if (existsSync(dir)) {
    if (existsSync(join(dir, 'meshbridge.yaml')) || existsSync(join(dir, 'istio')))
      rmSync(dir, { recursive: true, force: true });
    else if (readdirCount(dir) > 0)
      throw new UsageError(
        `${dir} exists and is not a meshbridge demo folder; give another --dir`,
        'DEMO_DIR_IN_USE',
      );
  }
  mkdirSync(dir, { recursive: true });
  const db = o.db ?? join(dir, 'meshbridge.db');
  const steps: DemoStep[] = [];
  const step = (s: DemoStep) => {
    steps.push(s);
    say(`${s.ok ? '✓' : '×'} ${s.step}: ${s.detail}`);
  };
  const write = (rel: string, content: string | Uint8Array, mode = 0o644) => {
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content, { mode });
    return path;
  };

  // 1 ---------------------------------------------------------------- generate
  const now = new Date();
  const mesh = generateIstioMesh({ namespaces: DEMO_NAMESPACES });
  const meshTd = mesh.trustDomain;
  write(
    'istio/cacerts.yaml',
    cacertsSecret(mesh, mesh.intermediateKey.export({ format: 'pem', type: 'pkcs8' }).toString()),
    0o600,
  );
  write('istio/istio-ca-root-cert.yaml', rootCertConfigMaps(mesh, Object.keys(DEMO_NAMESPACES)));
  for (const w of mesh.workloads)
    write(`istio/proxies/${w.namespace}.${w.serviceAccount}.json`, proxySecretDump(mesh, w, now));
  // Keys of two sidecars, so the demo can present mesh-issued certificates to the broker.
  const meshFiles = { cert: '', key: '' };
  for (const w of mesh.workloads) {
    if (!['web', 'ledger'].includes(w.serviceAccount)) continue;
    const cert = write(`mesh-certs/${w.serviceAccount}.pem`, w.chain.map((c) => c.pem).join(''));
    const key = write(
      `mesh-certs/${w.serviceAccount}.key`,
      w.key.export({ format: 'pem', type: 'pkcs8' }).toString(),
      0o600,
    );
    if (w.serviceAccount === 'web') Object.assign(meshFiles, { cert, key });
  }
  const spireDir = join(dir, 'spire');
  const { ca } = loadOrCreateDevCa(spireDir, TrustDomain.parse(DEMO_SPIRE_TRUST_DOMAIN));
  const svid = (path: string, opts: { dnsNames?: string[] } = {}) =>
    writeSvidFiles(
      spireDir,
      mintX509Svid(ca, SpiffeId.parse(`spiffe://${DEMO_SPIRE_TRUST_DOMAIN}${path}`), {
        ttlSeconds: 86_400,
        ...opts,
      }),
    );
  svid('/ns/meshbridge/sa/meshbridge', { dnsNames: ['localhost'] });
  const api = svid('/ns/payments/sa/api');
  svid('/ns/shop/sa/intruder');
  write('rules.yaml', mappingRules());
  step({
    step: 'generate',
    ok: true,
    detail: `Istio mesh ${meshTd} (plug-in CA, ${mesh.workloads.length} workloads in ${Object.keys(DEMO_NAMESPACES).join(', ')}) and a SPIRE-like CA for ${DEMO_SPIRE_TRUST_DOMAIN} in ${dir}`,
    by: 'demo/mesh generateIstioMesh, devca createDevCa/mintX509Svid',
  });

  const store = await openStore(db, { env: o.env, cwd: dir });
  try {
    // 2 ---------------------------------------------------------------- import
    const imported = await importInto(store, dir, ['istio'], now);
    step({
      step: 'import',
      ok: true,
      detail: `${imported.certificates} certificate(s) from ${imported.files} file(s): ${imported.anchors} anchor(s), ${imported.intermediates} issuer(s), ${imported.workloads} workload(s) (mesh istio, cluster ${DEMO_CLUSTER})`,
      by: 'mesh-import InventoryBuilder + store saveImport',
    });

    // 3 ---------------------------------------------------------------- SPIRE roots
    await saveTrustRoots(store, {
      origin: 'spire',
      trustDomain: DEMO_SPIRE_TRUST_DOMAIN,
      source: displayPath(join(spireDir, 'bundle.pem')),
      rows: [
        {
          kind: 'x509-svid',
          keyId: ca.root.fingerprint,
          material: ca.root.der.toString('base64'),
          subject: `O=meshbridge dev CA,CN=${DEMO_SPIRE_TRUST_DOMAIN}`,
          notBefore: new Date(now.getTime() - 60_000).toISOString(),
          notAfter: new Date(now.getTime() + 365 * 86_400_000).toISOString(),
        },
        { kind: 'jwt-svid', keyId: ca.jwtKid, material: JSON.stringify(jwtPublicJwk(ca)) },
      ],
    });
    step({
      step: 'spire sync',
      ok: true,
      detail: `SPIRE root and JWT key of ${DEMO_SPIRE_TRUST_DOMAIN} stored`,
      by: 'store saveTrustRoots (as spire sync --bundle)',
    });

    // 4 ---------------------------------------------------------------- map
    const rules = loadRules(readFileSync(join(dir, 'rules.yaml'), 'utf8'), 'rules.yaml');
    const workloads = (await loadInventory(store, { role: 'workload', problems: 'none' })).certificates;
    const result = mapWorkloads(workloads, rules, null);
    if (result.blocking)
      throw new Error(
        `the demo mapping has a blocking problem: ${result.problems.map((p) => p.message).join('; ')}`,
      );
    await saveMappingRun(store, {
      trustDomain: rules.trustDomain,
      rulesHash: rules.hash,
      rulesVersion: rules.version,
      rulesFile: 'rules.yaml',
      rules: canonicalJson(rules.document),
      meshbridgeVersion: 'demo',
      summary: { ...result.stats, emitted: ['spire-entries'], previousRun: null },
      mappings: result.mappings,
      problems: result.problems.map((p) => ({ code: p.code, blocking: p.blocking, message: p.message })),
    });
    const entries = buildSpireEntries(rules, result).entries.map((e) => e.entry);
    write('spire/entries.json', `${JSON.stringify({ entries }, null, 2)}\n`);
    // What `spire-server entry show -output json` lists once `entry create -data spire/entries.json` ran.
    const shown = `${JSON.stringify({ entries: entries.map((e) => ({ id: randomUUID(), ...e })), next_page_token: '' }, null, 2)}\n`;
    write('spire/entry-show.json', shown);
    const { dump } = prepareSpireEntrySync(shown, 'spire/entry-show.json');
    await saveSpireEntryDump(store, {
      source: 'spire/entry-show.json',
      sha256: dump.sha256,
      entries: dump.entries,
    });
    step({
      step: 'map',
      ok: true,
      detail: `${result.identities.length} identities mapped to ${rules.trustDomain}; ${entries.length} SPIRE entries written to spire/entries.json and stored as created`,
      by: 'mapper mapWorkloads/buildSpireEntries + store saveMappingRun/saveSpireEntryDump',
    });

    // 5 ---------------------------------------------------------------- dual-trust bundle
    const { composition } = await composeFromStore(store, { scope: ALL_SCOPE, clock: () => now });
    const dualTrust = bundleForPhase(composition, 'dual-trust');
    const trustDomains = [];
    for (const td of dualTrust.trustDomains) {
      const published = await publishBundleVersion(store, {
        scope: '*',
        trustDomain: td.name,
        digest: td.digest,
        phase: 'dual-trust',
        roots: td.roots.map((r) => r.fingerprint),
      });
      trustDomains.push({ ...td, sequence: published.sequence });
    }
    const published = { ...dualTrust, trustDomains };
    const written: string[] = [];
    for (const format of ['spiffe', 'pem', 'istio-mesh-config'] as const) {
      for (const a of emitBundle(published, format, {})) written.push(write(`bundles/${a.name}`, a.content));
    }
    step({
      step: 'bundle',
      ok: true,
      detail: `dual-trust bundle: ${published.trustDomains.map((t) => `${t.name} ${t.roots.length} root(s) (sequence ${t.sequence})`).join(', ')}; wrote ${written.map((w) => relative(dir, w)).join(', ')}`,
      by: 'dual-trust composeTrust/bundleForPhase/emitBundle + store publishBundleVersion',
    });

    // 6 ---------------------------------------------------------------- cutover
    const cluster = `istio/${DEMO_CLUSTER}`;
    for (const scope of [cluster, `${cluster}/payments`]) {
      const r = await advanceScope(store, scope, { by: BY });
      step({
        step: 'cutover',
        ok: r.advanced,
        detail: r.advanced
          ? `${scope}: ${r.from} -> ${r.to}${r.cascade.length ? ` (with ${r.cascade.map((c) => c.scope).join(', ')})` : ''}`
          : `${scope}: ${r.from} -> ${r.to} refused: ${r.gate.blockers.map((b) => `${b.code} ${b.message}`).join('; ')}`,
        by: 'cutover advanceScope',
      });
    }

    // 7 ---------------------------------------------------------------- re-issue
    mkdirSync(join(dir, 'reissued'), { recursive: true });
    const apiLeaf = readFileSync(api.cert, 'utf8');
    write('reissued/payments.api.pem', apiLeaf);
    const re = await importInto(store, dir, ['reissued'], new Date());
    step({
      step: 're-issue',
      ok: re.workloads === 1,
      detail: 'payments/api restarted with a SPIRE-issued SVID; its certificate re-imported as evidence',
      by: 'mesh-import + store saveImport (an observation: cutover recordObservationsFromInventory)',
    });

    // 8 ---------------------------------------------------------------- broker and serve config
    write('broker/policy.yaml', brokerPolicy(meshTd));
    const configFile = write(
      'meshbridge.yaml',
      serveYaml({
        dashboardPort: o.dashboardPort,
        brokerPort: o.brokerPort,
        meshTrustDomain: meshTd,
        meshBundle: `bundles/bundle.${meshTd}.json`,
        spireBundle: `bundles/bundle.${DEMO_SPIRE_TRUST_DOMAIN}.json`,
      }),
    );
    loadServeConfig(configFile, { ...o.env, MESHBRIDGE_DB: db });
    step({
      step: 'broker',
      ok: true,
      detail:
        'ephemeral backend, policy broker/policy.yaml (payments-db for SPIRE-issued payments SVIDs only), meshbridge.yaml checked',
      by: 'credential-broker config + server loadServeConfig',
    });

    // 9 ---------------------------------------------------------------- static keys
    const ledger = new StaticKeyLedger({ store });
    await ledger.add({
      name: 'orders-db-password',
      credential: 'orders-db',
      location: 'external:my.cnf of the orders service, rotated by the DBA team',
      owner: 'team-shop',
      consumers: [`spiffe://${meshTd}/ns/shop/sa/web`, `spiffe://${DEMO_SPIRE_TRUST_DOMAIN}/ns/shop/sa/cart`],
      by: BY,
    });
    await ledger.add({
      name: 'payments-ledger-password',
      credential: 'payments-db',
      location: 'external:Kubernetes Secret payments/ledger-db',
      owner: 'team-payments',
      consumers: [`spiffe://${DEMO_SPIRE_TRUST_DOMAIN}/ns/payments/sa/api`],
      by: BY,
    });
    await ledger.add({
      name: 'reporting-api-key',
      credential: 'reporting-api-key',
      location: 'external:baked into the reporting cron image',
      owner: 'team-data',
      consumers: [`spiffe://${DEMO_SPIRE_TRUST_DOMAIN}/ns/payments/sa/ledger`],
      by: BY,
    });
    for (const k of ['orders-db-password', 'payments-ledger-password']) await ledger.advance(k, { by: BY });
    step({
      step: 'static keys',
      ok: true,
      detail: '3 legacy keys in the ledger; orders-db-password and payments-ledger-password are now brokered',
      by: 'credential-broker/static-keys StaticKeyLedger',
    });

    return {
      dir,
      db,
      configFile,
      steps,
      files: {
        cert: api.cert,
        key: api.key,
        ca: join(spireDir, 'bundle.pem'),
        meshCert: meshFiles.cert,
        meshKey: meshFiles.key,
      },
    };
  } finally {
    await store.close();
  }
}

/** Step 10: serve, with the ports of the config or free ones when those are taken. */
export async function serveDemo(
  prepared: PreparedDemo,
  o: { env: NodeJS.ProcessEnv; fallbackToFreePorts: boolean; logFile?: string },
): Promise<{ server: MeshbridgeServer; config: ServeConfig }> {
  const env = { ...o.env, MESHBRIDGE_DB: prepared.db };
  const log = createWriteStream(o.logFile ?? join(prepared.dir, 'serve.log'), { flags: 'a' });
  const start = async (config: ServeConfig) => {
    const server = await createServer(config, { env, logDestination: log as unknown as DestinationStream });
    try {
      await server.listen();
      return server;
    } catch (err) {
      await server.close();
      throw err;
    }
  };
  let config = loadServeConfig(prepared.configFile, env);
  let server: MeshbridgeServer;
  try {
    server = await start(config);
  } catch (err) {
    const inUse = (err as { cause?: { code?: unknown } }).cause?.code === 'EADDRINUSE';
    if (!o.fallbackToFreePorts || !inUse) throw err;
    config = loadServeConfig(prepared.configFile, env);
    config.listen.port = 0;
    if (config.broker !== undefined) config.broker.listen.port = 0;
    server = await start(config);
  }
  const closeServer = server.close.bind(server);
  server.close = async () => {
    await closeServer();
    await new Promise<void>((done) => log.end(() => done()));
  };
  // The config file says where things really listen.
  const port = (u: string | undefined) => Number(new URL(u ?? 'http://x:0').port);
  const text = readFileSync(prepared.configFile, 'utf8')
    .replace(
      /^listen: \{ host: 127\.0\.0\.1, port: \d+ \}/m,
      `listen: { host: 127.0.0.1, port: ${port(server.urls.dashboard)} }`,
    )
    .replace(
      /^ {2}listen: \{ host: 127\.0\.0\.1, port: \d+ \}/m,
      `  listen: { host: 127.0.0.1, port: ${port(server.urls.broker)} }`,
    );
  writeFileSync(prepared.configFile, text);
  return { server, config };
}

/** Sample traffic over mTLS, then the broker's sightings recorded as cutover observations. */
export async function demoTraffic(prepared: PreparedDemo, server: MeshbridgeServer): Promise<DemoTraffic[]> {
  const url = server.urls.broker;
  if (url === undefined) return [];
  const dir = prepared.dir;
  const ca = readFileSync(prepared.files.ca);
  const as = (name: string, cert: string, key: string, presented: 'mesh' | 'spire') => ({
    name,
    cert: readFileSync(cert),
    key: readFileSync(key),
    presented,
  });
  const api = as('payments/api', prepared.files.cert, prepared.files.key, 'spire');
  const web = as('shop/web', prepared.files.meshCert, prepared.files.meshKey, 'mesh');
  const ledger = as(
    'payments/ledger',
    join(dir, 'mesh-certs/ledger.pem'),
    join(dir, 'mesh-certs/ledger.key'),
    'mesh',
  );
  const intruder = as(
    'shop/intruder',
    join(dir, 'spire/intruder.pem'),
    join(dir, 'spire/intruder.key'),
    'spire',
  );
  const plan: [typeof api, string][] = [
    [api, 'payments-db'],
    [api, 'payments-db'],
    [api, 'reporting-api-key'],
    [web, 'orders-db'],
    [web, 'orders-db'],
    [web, 'orders-db'],
    [ledger, 'payments-db'],
    [intruder, 'orders-db'],
    [web, 'payroll-db'],
  ];
  const out: DemoTraffic[] = [];
  for (const [who, credential] of plan) {
    const r = await post(`${url}/v1/credentials/${credential}`, { cert: who.cert, key: who.key, ca });
    out.push({ as: who.name, presented: who.presented, credential, status: r.status, code: r.code });
  }
  // The server records each authentication as a cutover observation (src/server/sightings.ts).
  await server.flushSightings();
  return out;
}

/** Where each scope stands (for the summary the demo prints). */
export async function demoScopes(
  store: Store,
): Promise<{ scope: string; phase: string; workloads: number; onSpire: number }[]> {
  const report = await cutoverStatus(store);
  return report.scopes.map((s) => ({
    scope: s.scope,
    phase: s.phase,
    workloads: s.workloads,
    onSpire: s.onSpire,
  }));
}

export function curlCommand(
  prepared: PreparedDemo,
  brokerUrl: string,
  cwd: string,
  credential = 'payments-db',
): string {
  const shown = (p: string) => {
    const rel = relative(cwd, p);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : p;
  };
  const port = new URL(brokerUrl).port;
  return `curl --cert ${shown(prepared.files.cert)} --key ${shown(prepared.files.key)} --cacert ${shown(prepared.files.ca)} -X POST https://localhost:${port}/v1/credentials/${credential}`;
}

// ---------------------------------------------------------------- helpers

async function importInto(store: Store, dir: string, paths: string[], at: Date) {
  const files = await listInputFiles(paths, { cwd: dir });
  const builder = new InventoryBuilder({ mesh: 'istio', cluster: DEMO_CLUSTER, clock: () => at });
  for await (const ex of readInputFiles(files, { cwd: dir, mesh: 'istio' })) {
    builder.add(ex);
    await builder.ready();
  }
  const inv = await builder.finish();
  await saveImport(store, toImportRecord(inv, { startedAt: at.toISOString() }));
  return {
    files: files.length,
    certificates: inv.anchors.length + inv.intermediates.length + inv.workloads.length,
    anchors: inv.anchors.length,
    intermediates: inv.intermediates.length,
    workloads: inv.workloads.length,
  };
}

function post(
  url: string,
  tls: { cert: Buffer; key: Buffer; ca: Buffer },
): Promise<{ status: number; code: string }> {
  return new Promise((done, fail) => {
    const req = request(
      url,
      { method: 'POST', ...tls, servername: 'localhost', headers: { 'content-type': 'application/json' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => {
          let code = 'OK';
          try {
            const j = JSON.parse(body) as { error?: { code?: string } };
            if (j.error?.code) code = j.error.code;
          } catch {
            code = 'UNPARSABLE';
          }
          // The secret in `body` is dropped here: the demo never prints or stores it.
          done({ status: res.statusCode ?? 0, code });
        });
      },
    );
    req.on('error', fail);
    req.end('{}');
  });
}

function displayPath(p: string): string {
  const rel = relative(process.cwd(), p);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : p;
}

function readdirCount(dir: string): number {
  try {
    return readdirSync(dir).length;
  } catch {
    return 0;
  }
}
