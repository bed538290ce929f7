/**
 * deploy/kubernetes/ and the Dockerfile against the code: every manifest parses; the
 * ConfigMap's meshbridge.yaml passes the serve config schema (broker section included);
 * the Workload API socket the Deployment mounts is the one $SPIFFE_ENDPOINT_SOCKET names
 * and the kernel's address parser reads; every path, port, env variable and probe the
 * manifests use is one the config and the server read.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { ENV, parseServeConfig, ServeConfigSchema } from '../../src/server/index.js';
import {
  parseEndpointAddress,
  resolveEndpointAddress,
  SPIFFE_ENDPOINT_SOCKET,
} from '../../src/spiffe/workloadapi/index.js';

const DIR = resolve('deploy/kubernetes');

interface K8s {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

function load(): K8s[] {
  const out: K8s[] = [];
  for (const f of readdirSync(DIR)
    .filter((n) => n.endsWith('.yaml'))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(DIR, f), 'utf8'))) {
      expect(doc.errors, f).toEqual([]);
      const v = doc.toJS() as K8s | null;
      if (v !== null) out.push(v);
    }
  }
  return out;
}

const docs = load();
const find = (kind: string, name = 'meshbridge') =>
  docs.find((d) => d.kind === kind && d.metadata.name === name);
// biome-ignore lint/suspicious/noExplicitAny: walking Kubernetes objects
const deployment = find('Deployment') as any;
// biome-ignore lint/suspicious/noExplicitAny: walking Kubernetes objects
const configMap = find('ConfigMap') as any;
// biome-ignore lint/suspicious/noExplicitAny: walking Kubernetes objects
const service = find('Service') as any;
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const envOf = (name: string) => container.env.find((e: { name: string }) => e.name === name);
const mountOf = (path: string) =>
  container.volumeMounts
    .filter((m: { mountPath: string }) => path === m.mountPath || path.startsWith(`${m.mountPath}/`))
    .sort((a: { mountPath: string }, b: { mountPath: string }) => b.mountPath.length - a.mountPath.length)[0];
const volumeOf = (name: string) => pod.volumes.find((v: { name: string }) => v.name === name);
const configFile = container.args[container.args.indexOf('--config') + 1] as string;
const deployEnv = Object.fromEntries(
  container.env.map((e: { name: string; value?: string }) => [
    e.name,
    e.value ?? 'from-a-secret-in-the-cluster',
  ]),
);
deployEnv.MESHBRIDGE_DB = 'postgres://meshbridge@postgres:5432/meshbridge';

describe('deploy/kubernetes', () => {
  it('parses, with every object the issue asks for', () => {
    const kinds = docs.map((d) => d.kind);
    for (const k of ['Deployment', 'Service', 'ConfigMap', 'PodDisruptionBudget', 'ServiceMonitor'])
      expect(kinds).toContain(k);
    for (const d of docs) expect(d.apiVersion, d.kind).toMatch(/^[a-z0-9./]*v\d/);
    const kustomized = parseYaml(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    for (const r of kustomized.resources) expect(readdirSync(DIR)).toContain(r);
  });

  it('mounts the Workload API socket from the SPIFFE CSI driver where SPIFFE_ENDPOINT_SOCKET points', () => {
    const socket = envOf(SPIFFE_ENDPOINT_SOCKET);
    expect(socket?.value).toBeDefined();
    const address = parseEndpointAddress(socket.value);
    expect(address.scheme).toBe('unix');
    const path = (address as { path: string }).path;
    // With no address in the config, the client dials exactly this one.
    expect(resolveEndpointAddress(undefined, { [SPIFFE_ENDPOINT_SOCKET]: socket.value })).toEqual(address);
    const mount = mountOf(path);
    expect(mount, `nothing is mounted at ${path}`).toBeDefined();
    expect(volumeOf(mount.name).csi).toMatchObject({ driver: 'csi.spiffe.io', readOnly: true });
    expect(mount.readOnly).toBe(true);
  });

  it("carries a meshbridge.yaml the serve config schema accepts, mounted where the container's --config points", () => {
    const mount = mountOf(configFile);
    expect(volumeOf(mount.name).configMap.name).toBe(configMap.metadata.name);
    const key = configFile.slice(mount.mountPath.length + 1);
    const text = configMap.data[key] as string;
    expect(text, `ConfigMap has no key ${key}`).toBeDefined();
    expect(Value.Errors(ServeConfigSchema, parseYaml(text)).First()).toBeUndefined();
    const config = parseServeConfig(text, {
      env: deployEnv,
      baseDir: '/etc/meshbridge',
      resolveTokens: false,
    });
    // The Workload API address is not in the file: the broker reads $SPIFFE_ENDPOINT_SOCKET.
    expect(config.broker?.workloadApi).toMatchObject({ servingCert: true, trust: true });
    expect(config.broker?.workloadApi?.address).toBeUndefined();
    // Every file the config names is mounted.
    const files = [
      config.broker!.policy,
      ...config.broker!.trust.flatMap((t) => t.bundles),
      '/var/run/secrets/meshbridge/admin-token',
    ];
    for (const f of files) {
      const m = mountOf(f);
      expect(m, `${f} is not mounted`).toBeDefined();
      const v = volumeOf(m.name);
      const rel = f.slice(m.mountPath.length + 1);
      if (v.configMap?.name === configMap.metadata.name) expect(configMap.data[rel], f).toBeDefined();
    }
    expect(text).toContain('/var/run/secrets/meshbridge/admin-token');
    expect(config.broker!.backends[0]).toMatchObject({
      type: 'ephemeral',
      signingKeyEnv: 'MESHBRIDGE_EPHEMERAL_SIGNING_KEY',
    });
    expect(envOf('MESHBRIDGE_EPHEMERAL_SIGNING_KEY')?.valueFrom?.secretKeyRef).toBeDefined();
  });

  it('uses only the environment variables the code reads', () => {
    const known = new Set<string>([
      SPIFFE_ENDPOINT_SOCKET,
      ...Object.values(ENV),
      'MESHBRIDGE_EPHEMERAL_SIGNING_KEY',
    ]);
    for (const e of container.env) expect(known, e.name).toContain(e.name);
  });

  it('expects PostgreSQL (from a Secret) when it runs more than one replica', () => {
    expect(deployment.spec.replicas).toBeGreaterThan(1);
    const db = envOf(ENV.db);
    expect(db?.valueFrom?.secretKeyRef).toBeDefined();
    const config = parseServeConfig(configMap.data['meshbridge.yaml'], {
      env: deployEnv,
      resolveTokens: false,
      baseDir: '/etc/meshbridge',
    });
    expect(config.store).toMatch(/^postgres:\/\//);
    expect(parseYaml(configMap.data['meshbridge.yaml']).store).toBeUndefined();
  });

  it('exposes the ports the config listens on, probes /healthz and /readyz, and scrapes /metrics', () => {
    const config = parseServeConfig(configMap.data['meshbridge.yaml'], {
      env: deployEnv,
      resolveTokens: false,
      baseDir: '/etc/meshbridge',
    });
    const port = (name: string) =>
      container.ports.find((p: { name: string }) => p.name === name)?.containerPort;
    expect(port('http')).toBe(config.listen.port);
    expect(port('broker')).toBe(config.broker!.listen.port);
    expect(config.listen.host).toBe('0.0.0.0');
    expect(config.access.tokens.length + config.access.adminIds.length).toBeGreaterThan(0);
    expect(container.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
    const svcPorts = service.spec.ports.map((p: { name: string; targetPort: string }) => p.targetPort);
    expect(svcPorts).toEqual(expect.arrayContaining(['http', 'broker']));
    // biome-ignore lint/suspicious/noExplicitAny: walking Kubernetes objects
    const monitor = find('ServiceMonitor') as any;
    expect(monitor.spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
    expect(config.metrics).toMatchObject({ enabled: true, requireAuth: false });
    expect(monitor.spec.selector.matchLabels).toEqual(service.metadata.labels);
    // biome-ignore lint/suspicious/noExplicitAny: walking Kubernetes objects
    const pdb = find('PodDisruptionBudget') as any;
    expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(resolve('Dockerfile'), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);

  it('builds on node:20-slim, installs production dependencies with npm ci --omit=dev, runs as non-root', () => {
    for (const s of stages) expect(s).toMatch(/^node:20-slim\b/);
    expect(text).toMatch(/^RUN npm ci --omit=dev\b/m);
    const runtime = stages.at(-1)!;
    const user = /^USER (\S+)/m.exec(runtime)?.[1];
    expect(user).toBeDefined();
    expect(user!.split(':')[0]).not.toMatch(/^(root|0)$/);
    expect(user!.split(':')[0]).toBe(String(pod.securityContext.runAsUser));
    expect(runtime).toMatch(/ENTRYPOINT \["node", "dist\/cli\/main\.js"\]/);
    expect(runtime).toContain(configFile);
    for (const d of ['migrations', 'proto']) expect(runtime).toMatch(new RegExp(`^COPY ${d} `, 'm'));
  });
});
