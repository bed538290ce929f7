/**
 * Starts a real broker (createBrokerServer: HTTPS on 127.0.0.1, an ephemeral port)
 * from a config file written into a workspace, with its log lines captured.
 */
import type { CredentialBackend } from '../../../src/credential-broker/backends/index.js';
import { parseBrokerConfig } from '../../../src/credential-broker/config.js';
import {
  type BrokerServer,
  type BrokerServerDeps,
  createBrokerServer,
} from '../../../src/credential-broker/server.js';
import { openStore, type Store } from '../../../src/store/index.js';
import { createPki, LogSink, type Pki, type Workspace, workspace, writeTrust } from './world.js';

export const DEFAULT_POLICY = `
version: test-1
credentials:
  orders-db:
    description: orders database, read-write
    spec: { type: ephemeral, kind: password, username: orders }
    ttl: 5m
    maxTtl: 15m
  reports-key:
    spec: { type: ephemeral, kind: api-key }
    ttl: 1m
  orders-token:
    spec: { type: ephemeral, kind: token, audience: orders }
    ttl: 2m
rules:
  - name: web-orders
    subjects: [spiffe://example.org/ns/shop/sa/web]
    credentials: [orders-db, orders-token]
  - name: istio-shop-reports
    subjects: ["spiffe://cluster.local/ns/shop/**"]
    credentials: [reports-key]
  - name: billing-reports
    subjects: ["spiffe://example.org/ns/billing/sa/*"]
    credentials: [reports-key]
  - name: payments-cut-over
    subjects: [spiffe://cluster.local/ns/payments/sa/api]
    credentials: [orders-db]
    issuer: spire
`;

export interface TestBroker {
  pki: Pki;
  ws: Workspace;
  server: BrokerServer;
  url: string;
  logs: LogSink;
  store: Store;
  close(): Promise<void>;
}

export interface StartOptions {
  pki?: Pki;
  policy?: string;
  /** Extra YAML lines inside `broker:` (2-space indented). */
  extraConfig?: string;
  backendsYaml?: string;
  /** The `rateLimit:` value (default false). */
  rateLimit?: string;
  store?: Store;
  deps?: Partial<BrokerServerDeps>;
  backends?: ReadonlyMap<string, CredentialBackend>;
  env?: NodeJS.ProcessEnv;
}

export async function startBroker(opts: StartOptions = {}): Promise<TestBroker> {
  const pki = opts.pki ?? createPki();
  const ws = workspace();
  const trust = writeTrust(ws, pki);
  ws.write('policy.yaml', opts.policy ?? DEFAULT_POLICY);
  const yaml = `broker:
  listen: { host: 127.0.0.1, port: 0 }
  tls: { cert: broker.pem, key: broker.key }
${trust}
  policy: policy.yaml
  backends:
${opts.backendsYaml ?? '    - { type: ephemeral }'}
  sweeper: { enabled: false }
  rateLimit: ${opts.rateLimit ?? 'false'}
  retryAfter: 2s
${opts.extraConfig ?? ''}
`;
  const cfgPath = ws.write('meshbridge.yaml', yaml);
  const config = parseBrokerConfig(yaml, {
    baseDir: ws.dir,
    file: 'meshbridge.yaml',
    path: cfgPath,
    env: opts.env ?? {},
  });
  const store = opts.store ?? (await openStore(`${ws.dir}/broker.db`));
  const logs = new LogSink();
  const server = await createBrokerServer(config, {
    store,
    logDestination: logs,
    env: opts.env ?? {},
    ...(opts.backends === undefined ? {} : { backends: opts.backends }),
    ...opts.deps,
  });
  const url = await server.listen();
  return {
    pki,
    ws,
    server,
    url,
    logs,
    store,
    async close() {
      await server.close();
      if (opts.store === undefined) await store.close();
      ws.remove();
    },
  };
}
