/**
 * The broker's configuration: a self-contained section, `broker:` in meshbridge.yaml,
 * so `meshbridge serve` (issue 9) can embed `BrokerConfigSchema` in its own file.
 *
 *   broker:
 *     listen: { host: 127.0.0.1, port: 8443 }
 *     tls: { cert: certs/broker.pem, key: certs/broker.key }      # or workloadApi.servingCert
 *     trust:
 *       - { kind: spire, trustDomain: example.org, bundles: [certs/bundle.pem, certs/jwt-bundle.json] }
 *       - { kind: mesh, trustDomain: cluster.local, bundles: [istio/root-cert.pem] }
 *       - { kind: mesh, trustDomain: cluster.local, identityForm: linkerd-dns, bundles: [linkerd/ca-bundle.crt] }
 *     workloadApi: { address: unix:///run/spire/agent.sock, servingCert: true, trust: true }
 *     linkerd: { template: "spiffe://example.org/ns/{namespace}/sa/{serviceAccount}" }
 *     audience: [spiffe://example.org/ns/meshbridge/sa/broker]   # default: the broker's own SPIFFE ID
 *     policy: policy.yaml
 *     backends: [{ type: ephemeral }]
 *     store: meshbridge.db                                       # or postgres://...
 *     sweeper: { interval: 30s }
 *     rateLimit: { ratePerSecond: 20, burst: 40 }                # or false
 *     retryAfter: 5s
 *
 * Relative paths are relative to the config file. Environment overrides:
 * MESHBRIDGE_BROKER_HOST, MESHBRIDGE_BROKER_PORT, MESHBRIDGE_BROKER_POLICY,
 * MESHBRIDGE_BROKER_AUDIENCE (comma-separated), MESHBRIDGE_BROKER_LOG_LEVEL,
 * MESHBRIDGE_DB (store); the Workload API address defaults to SPIFFE_ENDPOINT_SOCKET.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { parseDuration } from '../spiffe/duration.js';
import { type BackendConfig, type BackendKind, validateBackendConfig } from './backends/index.js';
import { BrokerError } from './errors.js';
import { Duration } from './policy/schema.js';
import { checkSchema, invalid, locate, parseYaml } from './yaml.js';

const IssuerKindSchema = Type.Union([Type.Literal('spire'), Type.Literal('mesh'), Type.Literal('federated')]);

export const TrustFileEntrySchema = Type.Object(
  {
    kind: IssuerKindSchema,
    trustDomain: Type.String({ minLength: 1, maxLength: 255 }),
    label: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    /** `linkerd-dns`: the anchors issue Linkerd DNS identities, translated through the mapping. */
    identityForm: Type.Optional(Type.Union([Type.Literal('spiffe'), Type.Literal('linkerd-dns')])),
    bundles: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  },
  { additionalProperties: false },
);

export const BrokerConfigSchema = Type.Object(
  {
    listen: Type.Optional(
      Type.Object(
        {
          host: Type.Optional(Type.String({ minLength: 1 })),
          port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** The broker's serving certificate (leaf + chain PEM) and key, re-read when they change. */
    tls: Type.Optional(
      Type.Object(
        { cert: Type.String({ minLength: 1 }), key: Type.String({ minLength: 1 }) },
        { additionalProperties: false },
      ),
    ),
    workloadApi: Type.Optional(
      Type.Object(
        {
          /** Default: SPIFFE_ENDPOINT_SOCKET. */
          address: Type.Optional(Type.String({ minLength: 1 })),
          /** Serve with the agent's X.509-SVID (default: when `tls` is absent). */
          servingCert: Type.Optional(Type.Boolean()),
          /** Trust the agent's X.509 and JWT bundles (default true). */
          trust: Type.Optional(Type.Boolean()),
          /** Kind per delivered trust domain (default: own spire, others federated). */
          kinds: Type.Optional(Type.Record(Type.String(), IssuerKindSchema)),
          readyTimeout: Type.Optional(Duration),
        },
        { additionalProperties: false },
      ),
    ),
    trust: Type.Optional(Type.Array(TrustFileEntrySchema)),
    linkerd: Type.Optional(
      Type.Object(
        {
          /** Explicit DNS identity -> SPIFFE ID pairs. */
          mapping: Type.Optional(Type.Record(Type.String(), Type.String({ pattern: '^spiffe://' }))),
          /** `spiffe://td/ns/{namespace}/sa/{serviceAccount}` for identities not in `mapping`. */
          template: Type.Optional(Type.String({ pattern: '^spiffe://' })),
        },
        { additionalProperties: false },
      ),
    ),
    audience: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
    policy: Type.String({ minLength: 1 }),
    /** How often the policy and trust files are checked for changes (default 2s; 0 disables). */
    reloadInterval: Type.Optional(Type.Union([Duration, Type.Literal(0)])),
    backends: Type.Array(Type.Object({ type: Type.String() }, { additionalProperties: true }), {
      minItems: 1,
    }),
    store: Type.Optional(Type.String({ minLength: 1 })),
    sweeper: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean()),
          interval: Type.Optional(Duration),
          /** How long a claimed revocation is protected from other sweepers (default 5m). */
          claimTtl: Type.Optional(Duration),
        },
        { additionalProperties: false },
      ),
    ),
    rateLimit: Type.Optional(
      Type.Union([
        Type.Literal(false),
        Type.Object(
          {
            ratePerSecond: Type.Number({ exclusiveMinimum: 0 }),
            burst: Type.Integer({ minimum: 1 }),
          },
          { additionalProperties: false },
        ),
      ]),
    ),
    /** Retry-After sent with 503 when a backend is down (default 5s). */
    retryAfter: Type.Optional(Duration),
    /** Enforce every MUST of the X.509-SVID spec (default false: go-spiffe verdicts, warnings recorded). */
    strict: Type.Optional(Type.Boolean()),
    logLevel: Type.Optional(
      Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
    ),
  },
  { additionalProperties: false },
);

export type BrokerConfigDocument = Static<typeof BrokerConfigSchema>;

/** The config with defaults applied, durations in seconds and paths absolute. */
export interface BrokerConfig {
  listen: { host: string; port: number };
  tls?: { cert: string; key: string };
  workloadApi?: {
    address?: string;
    servingCert: boolean;
    trust: boolean;
    kinds: Record<string, 'spire' | 'mesh' | 'federated'>;
    readyTimeoutSeconds: number;
  };
  trust: {
    kind: 'spire' | 'mesh' | 'federated';
    trustDomain: string;
    label?: string;
    identityForm?: 'spiffe' | 'linkerd-dns';
    bundles: string[];
  }[];
  linkerd?: { mapping: Record<string, string>; template?: string };
  audience?: string[];
  policy: string;
  reloadIntervalSeconds: number;
  backends: BackendConfig[];
  store?: string;
  sweeper: { enabled: boolean; intervalSeconds: number; claimTtlSeconds: number };
  rateLimit: false | { ratePerSecond: number; burst: number };
  retryAfterSeconds: number;
  strict: boolean;
  logLevel: string;
  /** The folder relative paths were resolved against. */
  baseDir: string;
  /** The file read, when read from one. */
  file?: string;
}

export const DEFAULT_BROKER_PORT = 8443;

/**
 * Reads a broker config file: a meshbridge.yaml with a `broker:` section (other
 * top-level sections belong to other features and are left alone), or a file that is
 * the section itself. Codes: CONFIG_UNREADABLE, CONFIG_INVALID.
 */
export function loadBrokerConfig(path: string, env: NodeJS.ProcessEnv = process.env): BrokerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new BrokerError('CONFIG_UNREADABLE', `cannot read config ${path}: ${(err as Error).message}`);
  }
  return parseBrokerConfig(text, {
    file: basename(path),
    baseDir: dirname(resolve(path)),
    env,
    path: resolve(path),
  });
}

export interface ParseConfigOptions {
  file?: string;
  baseDir?: string;
  env?: NodeJS.ProcessEnv;
  path?: string;
}

export function parseBrokerConfig(text: string, opts: ParseConfigOptions = {}): BrokerConfig {
  const file = opts.file ?? 'meshbridge.yaml';
  const parsed = parseYaml(text, file, 'CONFIG_INVALID');
  const root = parsed.value;
  const embedded = isObject(root) && Object.hasOwn(root, 'broker');
  const section = embedded ? (root as Record<string, unknown>).broker : root;
  if (!isObject(section)) {
    throw new BrokerError('CONFIG_INVALID', `${file}: the broker section must be a mapping (broker: {...})`);
  }
  const prefix = embedded ? ['broker'] : [];
  const relocate = (path: (string | number)[]) => locate(parsed, [...prefix, ...path]);
  const doc = checkSchema<BrokerConfigDocument>(BrokerConfigSchema, parsed, 'CONFIG_INVALID', 'config', {
    value: section,
    prefix,
  });
  const problems: string[] = [];

  const backends: BackendConfig[] = [];
  const names = new Map<string, number>();
  doc.backends.forEach((b, i) => {
    try {
      const valid = validateBackendConfig(b);
      const name = valid.name ?? valid.type;
      if (names.has(name))
        problems.push(`${relocate(['backends', i])}: two backends are named "${name}"; give one a "name"`);
      names.set(name, i);
      backends.push(valid);
    } catch (err) {
      problems.push(
        `${relocate(['backends', i])}: /${[...prefix, 'backends', i].join('/')} ${(err as Error).message}`,
      );
    }
  });

  const seconds = (v: string | number | undefined, path: (string | number)[], dflt: number): number => {
    if (v === undefined) return dflt;
    try {
      return parseDuration(v, path.join('.'));
    } catch (err) {
      problems.push(`${relocate(path)}: ${(err as Error).message}`);
      return dflt;
    }
  };

  const env = opts.env ?? process.env;
  const baseDir = opts.baseDir ?? process.cwd();
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));

  let port = doc.listen?.port ?? DEFAULT_BROKER_PORT;
  if (env.MESHBRIDGE_BROKER_PORT !== undefined && env.MESHBRIDGE_BROKER_PORT !== '') {
    const p = Number(env.MESHBRIDGE_BROKER_PORT);
    if (!Number.isInteger(p) || p < 0 || p > 65535)
      problems.push(`MESHBRIDGE_BROKER_PORT: "${env.MESHBRIDGE_BROKER_PORT}" is not a port number`);
    else port = p;
  }
  const host = env.MESHBRIDGE_BROKER_HOST || doc.listen?.host || '127.0.0.1';
  const policy = env.MESHBRIDGE_BROKER_POLICY || doc.policy;
  const audienceEnv = env.MESHBRIDGE_BROKER_AUDIENCE?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const audience = audienceEnv !== undefined && audienceEnv.length > 0 ? audienceEnv : doc.audience;
  const store = env.MESHBRIDGE_DB || doc.store;
  const logLevel = env.MESHBRIDGE_BROKER_LOG_LEVEL || doc.logLevel || 'info';

  const wl = doc.workloadApi;
  const workloadApi =
    wl === undefined
      ? undefined
      : {
          ...(wl.address === undefined ? {} : { address: wl.address }),
          servingCert: wl.servingCert ?? doc.tls === undefined,
          trust: wl.trust ?? true,
          kinds: wl.kinds ?? {},
          readyTimeoutSeconds: seconds(wl.readyTimeout, ['workloadApi', 'readyTimeout'], 30),
        };
  if (doc.tls === undefined && workloadApi?.servingCert !== true) {
    problems.push(
      `${relocate([])}: the broker needs a serving certificate: set tls: {cert, key} or workloadApi: {servingCert: true}`,
    );
  }
  if ((doc.trust ?? []).length === 0 && workloadApi?.trust !== true) {
    problems.push(
      `${relocate([])}: the broker trusts nothing: add trust: [...] bundles or workloadApi: {trust: true}`,
    );
  }

  if (problems.length > 0) throw invalid('CONFIG_INVALID', file, 'config', problems);
  const reload =
    doc.reloadInterval === undefined ? 2 : doc.reloadInterval === 0 ? 0 : parseDuration(doc.reloadInterval);
  const rl = doc.rateLimit;
  return {
    listen: { host, port },
    ...(doc.tls === undefined ? {} : { tls: { cert: abs(doc.tls.cert), key: abs(doc.tls.key) } }),
    ...(workloadApi === undefined ? {} : { workloadApi }),
    trust: (doc.trust ?? []).map((t) => ({ ...t, bundles: t.bundles.map(abs) })),
    ...(doc.linkerd === undefined
      ? {}
      : {
          linkerd: {
            mapping: doc.linkerd.mapping ?? {},
            ...(doc.linkerd.template === undefined ? {} : { template: doc.linkerd.template }),
          },
        }),
    ...(audience === undefined ? {} : { audience }),
    policy: abs(policy),
    reloadIntervalSeconds: reload,
    backends,
    ...(store === undefined ? {} : { store: isUrlOrMemory(store) ? store : abs(store) }),
    sweeper: {
      enabled: doc.sweeper?.enabled ?? true,
      intervalSeconds: seconds(doc.sweeper?.interval, ['sweeper', 'interval'], 30),
      claimTtlSeconds: seconds(doc.sweeper?.claimTtl, ['sweeper', 'claimTtl'], 300),
    },
    rateLimit: rl === undefined ? { ratePerSecond: 50, burst: 100 } : rl,
    retryAfterSeconds: Math.max(1, Math.ceil(seconds(doc.retryAfter, ['retryAfter'], 5))),
    strict: doc.strict ?? false,
    logLevel,
    baseDir,
    ...(opts.path === undefined ? {} : { file: opts.path }),
  };
}

/** Backend name -> type, for policy compilation. */
export function backendCatalog(config: Pick<BrokerConfig, 'backends'>): Map<string, BackendKind> {
  return new Map(config.backends.map((b) => [b.name ?? b.type, b.type]));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isUrlOrMemory(s: string): boolean {
  return s === ':memory:' || /^[a-z][a-z0-9+.-]*:\/\//i.test(s);
}
