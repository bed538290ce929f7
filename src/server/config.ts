/**
 * `meshbridge.yaml`: the one config file of `meshbridge serve`, checked against a
 * TypeBox schema with every problem reported as `file:line:col: /path message`.
 *
 *   listen: { host: 127.0.0.1, port: 8080 }     # plain HTTP: dashboard, /api/v1, /healthz, /readyz, /metrics
 *   store: meshbridge.db                        # or postgres://... (required when replicas > 1)
 *   access:                                     # only consulted off loopback (or with requireAuth: true)
 *     adminIds: [spiffe://example.org/ns/ops/sa/admin]   # admin SVIDs, over mTLS on the broker listener
 *     tokens: [{ name: ops, file: /etc/meshbridge/admin-token }, { name: ci, env: CI_TOKEN }]
 *   dashboard: { refresh: 10s, title: "meshbridge" }
 *   metrics: { requireAuth: false }
 *   bundleEndpoint: { path: /bundle, phase: auto, scope: "*", refreshHint: 5m }
 *   cutover: { overlap: 30d }                   # the planned overlap window (timeline, bundle composition)
 *   broker: { ... }                             # the credential broker (its own HTTPS listener, mTLS)
 *
 * Relative paths are relative to the file. Environment overrides: MESHBRIDGE_LISTEN
 * (`host:port`, `:port`), MESHBRIDGE_DB (store), MESHBRIDGE_ADMIN_TOKEN (one more admin
 * token), MESHBRIDGE_LOG_LEVEL; the broker section reads its own (MESHBRIDGE_BROKER_*),
 * and the Workload API address defaults to SPIFFE_ENDPOINT_SOCKET.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { type BrokerConfig, BrokerConfigSchema, parseBrokerConfig } from '../credential-broker/config.js';
import { locate, type ParsedYaml, parseYaml, schemaProblems } from '../credential-broker/yaml.js';
import { PHASES, type Phase } from '../dual-trust/phases.js';
import { parseDuration } from '../spiffe/duration.js';
import { CodedError } from '../spiffe/errors.js';
import { defaultTarget } from '../store/open.js';
import { ServerError } from './errors.js';

export const DEFAULT_CONFIG_FILE = 'meshbridge.yaml';
export const DEFAULT_LISTEN = { host: '127.0.0.1', port: 8080 } as const;

/** The environment variables `serve` reads (besides the broker's MESHBRIDGE_BROKER_*). */
export const ENV = {
  listen: 'MESHBRIDGE_LISTEN',
  db: 'MESHBRIDGE_DB',
  adminToken: 'MESHBRIDGE_ADMIN_TOKEN',
  logLevel: 'MESHBRIDGE_LOG_LEVEL',
  config: 'MESHBRIDGE_CONFIG',
} as const;

const Duration = Type.Union([Type.String({ minLength: 1 }), Type.Integer({ minimum: 0 })]);
const LogLevel = Type.Union(
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
);

const Listen = Type.Object(
  {
    host: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  },
  { additionalProperties: false },
);

const Token = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    /** A file holding the token (a mounted Secret). */
    file: Type.Optional(Type.String({ minLength: 1 })),
    /** An environment variable holding the token. */
    env: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' })),
  },
  { additionalProperties: false },
);

const sections = {
  listen: Type.Optional(Listen),
  store: Type.Optional(Type.String({ minLength: 1 })),
  logLevel: Type.Optional(LogLevel),
  access: Type.Optional(
    Type.Object(
      {
        /** Ask for a token or admin SVID even on 127.0.0.1 (off loopback it is always asked for). */
        requireAuth: Type.Optional(Type.Boolean()),
        adminIds: Type.Optional(Type.Array(Type.String({ pattern: '^spiffe://' }))),
        tokens: Type.Optional(Type.Array(Token)),
      },
      { additionalProperties: false },
    ),
  ),
  dashboard: Type.Optional(
    Type.Object(
      {
        enabled: Type.Optional(Type.Boolean()),
        /** How often the page asks its API whether anything changed. */
        refresh: Type.Optional(Duration),
        title: Type.Optional(Type.String({ minLength: 1, maxLength: 120 })),
      },
      { additionalProperties: false },
    ),
  ),
  metrics: Type.Optional(
    Type.Object(
      {
        enabled: Type.Optional(Type.Boolean()),
        /** Off loopback, ask for a token on /metrics too (default false: Prometheus scrapes it). */
        requireAuth: Type.Optional(Type.Boolean()),
        /** Node.js process metrics (default true). */
        processMetrics: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
  ),
  bundleEndpoint: Type.Optional(
    Type.Object(
      {
        enabled: Type.Optional(Type.Boolean()),
        /** Mount point: `GET <path>/<trust-domain>` (default /bundle). */
        path: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9/_.-]*$' })),
        /** The phase whose bundle is served; `auto`: the least advanced mesh's phase. */
        phase: Type.Optional(Type.Union([Type.Literal('auto'), ...PHASES.map((p) => Type.Literal(p))])),
        /** mesh[/cluster[/namespace]] whose anchors to take (default `*`: everything). */
        scope: Type.Optional(Type.String({ minLength: 1 })),
        refreshHint: Type.Optional(Duration),
        /** How often the bundle is recomposed from the store (default 30s). */
        reload: Type.Optional(Duration),
        defaultTrustDomain: Type.Optional(Type.String({ minLength: 1 })),
        meshTrustDomain: Type.Optional(Type.String({ minLength: 1 })),
        allowExpiring: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
  ),
  cutover: Type.Optional(
    Type.Object(
      {
        /** The planned overlap window: mesh and SPIRE roots trusted side by side (default 30d). */
        overlap: Type.Optional(Duration),
      },
      { additionalProperties: false },
    ),
  ),
};

/** The whole file, the broker section included (its own schema, `BrokerConfigSchema`). */
export const ServeConfigSchema = Type.Object(
  { ...sections, broker: Type.Optional(BrokerConfigSchema) },
  { additionalProperties: false },
);
export type ServeConfigDocument = Static<typeof ServeConfigSchema>;

/** What this module checks itself; the broker section is checked by `parseBrokerConfig`. */
const OwnSchema = Type.Object(
  { ...sections, broker: Type.Optional(Type.Unknown()) },
  { additionalProperties: false },
);

export interface AdminToken {
  name: string;
  /** Absent when parsed with `resolveTokens: false` (config check). */
  value?: string;
}

/** The config with defaults applied, durations in seconds and paths absolute. */
export interface ServeConfig {
  listen: { host: string; port: number };
  store: string;
  logLevel: string;
  access: { requireAuth: boolean; adminIds: string[]; tokens: AdminToken[] };
  dashboard: { enabled: boolean; refreshSeconds: number; title: string };
  metrics: { enabled: boolean; requireAuth: boolean; processMetrics: boolean };
  bundleEndpoint: {
    enabled: boolean;
    path: string;
    phase: Phase | 'auto';
    scope: string;
    refreshHintSeconds: number;
    reloadSeconds: number;
    defaultTrustDomain?: string;
    meshTrustDomain?: string;
    allowExpiring: boolean;
  };
  cutover: { overlapSeconds: number };
  broker?: BrokerConfig;
  baseDir: string;
  file?: string;
}

export interface ParseServeConfigOptions {
  /** Shown in messages (default meshbridge.yaml). */
  file?: string;
  /** Absolute path of the file, when read from one. */
  path?: string;
  baseDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Read token files and variables (default true; `config check` does not need the values). */
  resolveTokens?: boolean;
}

/** Reads and checks a config file. Codes: CONFIG_UNREADABLE, CONFIG_INVALID (every problem with its line). */
export function loadServeConfig(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: Omit<ParseServeConfigOptions, 'file' | 'path' | 'baseDir' | 'env'> = {},
): ServeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ServerError('CONFIG_UNREADABLE', `cannot read config ${path}: ${(err as Error).message}`);
  }
  return parseServeConfig(text, {
    ...opts,
    file: basename(path),
    path: resolve(path),
    baseDir: dirname(resolve(path)),
    env,
  });
}

/** A config for when no file is given: everything default, overrides from the environment. */
export function defaultServeConfig(
  env: NodeJS.ProcessEnv = process.env,
  baseDir = process.cwd(),
): ServeConfig {
  return parseServeConfig('{}', { env, baseDir, file: '(defaults)' });
}

export function parseServeConfig(text: string, opts: ParseServeConfigOptions = {}): ServeConfig {
  const file = opts.file ?? DEFAULT_CONFIG_FILE;
  const env = opts.env ?? process.env;
  const baseDir = opts.baseDir ?? process.cwd();
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  let parsed: ParsedYaml;
  try {
    parsed = parseYaml(text, file, 'CONFIG_INVALID');
  } catch (err) {
    throw rethrown(err);
  }
  const root = parsed.value ?? {};
  if (typeof root !== 'object' || root === null || Array.isArray(root)) {
    throw new ServerError(
      'CONFIG_INVALID',
      `config ${file} is invalid:\n  ${file}:1:1: the file must be a mapping`,
      {
        details: { problems: [`${file}:1:1: the file must be a mapping`] },
      },
    );
  }
  const problems = schemaProblems(OwnSchema, parsed, { value: root, prefix: [] }, 20);
  if (problems.length > 0) throw invalid(file, problems);
  const doc = root as Omit<ServeConfigDocument, 'broker'> & { broker?: unknown };

  const seconds = (v: string | number | undefined, path: (string | number)[], dflt: number): number => {
    if (v === undefined) return dflt;
    try {
      return parseDuration(v, path.join('.'));
    } catch (err) {
      problems.push(`${locate(parsed, path)}: /${path.join('/')} ${(err as Error).message}`);
      return dflt;
    }
  };

  // listen
  let listen = {
    host: doc.listen?.host ?? DEFAULT_LISTEN.host,
    port: doc.listen?.port ?? DEFAULT_LISTEN.port,
  };
  const envListen = env[ENV.listen];
  if (envListen !== undefined && envListen !== '') {
    const l = parseListen(envListen);
    if (l === undefined)
      problems.push(`${ENV.listen}: "${envListen}" is not host:port, :port or a port number`);
    else listen = { host: l.host ?? listen.host, port: l.port };
  }

  // access
  const tokens: AdminToken[] = [];
  const resolveTokens = opts.resolveTokens ?? true;
  (doc.access?.tokens ?? []).forEach((t, i) => {
    const where = locate(parsed, ['access', 'tokens', i]);
    if ((t.file === undefined) === (t.env === undefined)) {
      problems.push(
        `${where}: /access/tokens/${i} give exactly one of "file" or "env" (never the token itself)`,
      );
      return;
    }
    if (!resolveTokens) {
      tokens.push({ name: t.name });
      return;
    }
    let value: string | undefined;
    if (t.file !== undefined) {
      try {
        value = readFileSync(abs(t.file), 'utf8').trim();
      } catch (err) {
        problems.push(`${where}: /access/tokens/${i} cannot read ${t.file}: ${(err as Error).message}`);
        return;
      }
    } else {
      value = env[t.env!]?.trim();
      if (value === undefined || value === '') {
        problems.push(`${where}: /access/tokens/${i} environment variable ${t.env} is not set`);
        return;
      }
    }
    if (value.length < 16) {
      problems.push(`${where}: /access/tokens/${i} the token "${t.name}" is shorter than 16 characters`);
      return;
    }
    tokens.push({ name: t.name, value });
  });
  const envToken = env[ENV.adminToken]?.trim();
  if (envToken !== undefined && envToken !== '') {
    if (envToken.length < 16) problems.push(`${ENV.adminToken}: the token is shorter than 16 characters`);
    else tokens.push({ name: ENV.adminToken, ...(resolveTokens ? { value: envToken } : {}) });
  }

  const be = doc.bundleEndpoint ?? {};
  const config: ServeConfig = {
    listen,
    store: env[ENV.db] || (doc.store === undefined ? '' : storeTarget(doc.store, abs)),
    logLevel: env[ENV.logLevel] || doc.logLevel || 'info',
    access: {
      requireAuth: doc.access?.requireAuth ?? false,
      adminIds: doc.access?.adminIds ?? [],
      tokens,
    },
    dashboard: {
      enabled: doc.dashboard?.enabled ?? true,
      refreshSeconds: Math.max(1, seconds(doc.dashboard?.refresh, ['dashboard', 'refresh'], 10)),
      title: doc.dashboard?.title ?? 'meshbridge cutover',
    },
    metrics: {
      enabled: doc.metrics?.enabled ?? true,
      requireAuth: doc.metrics?.requireAuth ?? false,
      processMetrics: doc.metrics?.processMetrics ?? true,
    },
    bundleEndpoint: {
      enabled: be.enabled ?? true,
      path: (be.path ?? '/bundle').replace(/\/+$/, '') || '/bundle',
      phase: (be.phase ?? 'auto') as Phase | 'auto',
      scope: be.scope ?? '*',
      refreshHintSeconds: seconds(be.refreshHint, ['bundleEndpoint', 'refreshHint'], 300),
      reloadSeconds: Math.max(1, seconds(be.reload, ['bundleEndpoint', 'reload'], 30)),
      ...(be.defaultTrustDomain === undefined ? {} : { defaultTrustDomain: be.defaultTrustDomain }),
      ...(be.meshTrustDomain === undefined ? {} : { meshTrustDomain: be.meshTrustDomain }),
      allowExpiring: be.allowExpiring ?? false,
    },
    cutover: { overlapSeconds: seconds(doc.cutover?.overlap, ['cutover', 'overlap'], 30 * 86_400) },
    baseDir,
    ...(opts.path === undefined ? {} : { file: opts.path }),
  };
  if (config.bundleEndpoint.path === '/api' || config.bundleEndpoint.path.startsWith('/api/')) {
    problems.push(
      `${locate(parsed, ['bundleEndpoint', 'path'])}: /bundleEndpoint/path must not be under /api`,
    );
  }

  if (doc.broker !== undefined) {
    try {
      config.broker = parseBrokerConfig(text, {
        file,
        baseDir,
        env,
        ...(opts.path === undefined ? {} : { path: opts.path }),
      });
    } catch (err) {
      const listed = (err as CodedError).details?.problems;
      if (Array.isArray(listed)) problems.push(...listed.map(String));
      else problems.push(`${locate(parsed, ['broker'])}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw invalid(file, problems);
  if (config.store === '') config.store = config.broker?.store ?? defaultTarget(env);
  return config;
}

/** `host:port`, `[v6]:port`, `:port` or `port`. */
export function parseListen(text: string): { host?: string; port: number } | undefined {
  const m = /^(?:(\[[^\]]+\]|[^:[\]]*):)?(\d{1,5})$/.exec(text.trim());
  if (m === null) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  const host = m[1]?.replace(/^\[|\]$/g, '');
  return host === undefined || host === '' ? { port } : { host, port };
}

/** True for the addresses the dashboard may be served on without asking who is there. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === '127.0.0.1' || h === '::1' || h === 'localhost' || h === '::ffff:127.0.0.1';
}

function storeTarget(value: string, abs: (p: string) => string): string {
  return value === ':memory:' || /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : abs(value);
}

function invalid(file: string, problems: string[]): ServerError {
  return new ServerError('CONFIG_INVALID', `config ${file} is invalid:\n  ${problems.join('\n  ')}`, {
    details: { problems },
  });
}

function rethrown(err: unknown): unknown {
  if (err instanceof CodedError && err.code === 'CONFIG_INVALID') {
    return new ServerError('CONFIG_INVALID', err.message, {
      ...(err.details ? { details: err.details } : {}),
    });
  }
  return err;
}
