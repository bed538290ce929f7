/**
 * TEST DOUBLE of HashiCorp Vault's HTTP API, for tests only. THIS IS NOT VAULT.
 *
 * It speaks the documented request/response shapes of the endpoints the broker uses,
 * over real HTTP on 127.0.0.1, so the real `node-vault` client talks to it unchanged:
 *
 *   GET  /v1/sys/health                          200 / 503 sealed (no token needed)
 *   POST /v1/auth/token/create[-orphan|/:role]   -> {auth:{client_token,accessor,policies,lease_duration,...}}
 *   POST /v1/auth/token/revoke-accessor          {"accessor"} -> 204; unknown -> 400 "invalid accessor"
 *   GET  /v1/auth/token/lookup-self
 *   GET/POST/PUT/DELETE /v1/<kv>/data/<path>     KV v2 versions, `options.cas`, soft delete
 *   GET/POST/PUT/DELETE /v1/<kv>/metadata/<path> versions map, custom_metadata, max_versions, cas_required
 *   POST /v1/<kv>/destroy/<path>                 {"versions":[...]}
 *   POST /v1/<kv>/undelete/<path>                {"versions":[...]} (clears a soft delete)
 *   GET  /v1/<database>/creds/:role              random username/password with a lease
 *   GET  /v1/<aws>/creds/:role                   random access/secret key with a lease
 *   PUT  /v1/sys/leases/revoke                   {"lease_id"} -> 204 (also for unknown leases, as Vault)
 *
 * Auth is by `X-Vault-Token`: a root token, and tokens it (or their children) create,
 * each limited to its policies' path globs (`*` suffix, `+` one segment; capabilities
 * are not modelled). Errors are Vault-shaped: 403 {"errors":["permission denied"]},
 * 404 {"errors":[]}, 400 {"errors":["..."]}, 503 {"errors":["Vault is sealed"]}.
 *
 * `goDown('refuse' | 'sealed' | 'error' | 'hang')` and `comeBack()` simulate an outage:
 * the listening socket is closed (connection refused) and reopened on the same port,
 * every request gets 503 sealed / 500, or requests are accepted and never answered.
 *
 * Not modelled: real ACL capabilities, renewals, response wrapping, namespaces, LIST,
 * KV v1, lease expiry sweeps (an expired lease is simply reported expired).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

export interface VaultDoubleRole {
  ttlSeconds?: number;
}

export interface VaultDoubleOptions {
  rootToken?: string;
  /** KV v2 mounts (default ["secret"]). */
  kvMounts?: string[];
  /** Database secrets engine mounts (default ["database"]). */
  databaseMounts?: string[];
  /** AWS secrets engine mounts (default ["aws"]). */
  awsMounts?: string[];
  /** Known roles per engine; omitted: any role name works with a 1h lease. */
  databaseRoles?: Record<string, VaultDoubleRole>;
  awsRoles?: Record<string, VaultDoubleRole>;
  /** Policy name -> path globs it allows (every capability). `root` allows everything. */
  policies?: Record<string, string[]>;
  /** Cap on any token TTL (default 32 days, Vault's default max). */
  maxTokenTtlSeconds?: number;
  /** Misbehave: append the request body to 400 error texts (tests that the client redacts). */
  echoRequestBodyInErrors?: boolean;
  now?: () => number;
}

interface TokenEntry {
  token: string;
  accessor: string;
  policies: string[];
  meta: Record<string, string>;
  expiresAt: number | null;
  parent: string | null;
  orphan: boolean;
  displayName: string;
}

export interface DoubleLease {
  leaseId: string;
  engine: 'database' | 'aws';
  role: string;
  issuedAt: number;
  expiresAt: number;
  /** Token that asked for it; its revocation revokes the lease. */
  token: string;
  revoked: boolean;
  /** Times the lease actually went from live to revoked (never more than 1). */
  revocations: number;
  /** Times sys/leases/revoke was called for it. */
  revokeCalls: number;
}

interface KvVersion {
  data: Record<string, unknown> | null;
  created_time: string;
  deletion_time: string;
  destroyed: boolean;
}

interface KvKey {
  versions: Map<number, KvVersion>;
  current_version: number;
  oldest_version: number;
  max_versions: number;
  cas_required: boolean;
  custom_metadata: Record<string, string> | null;
  created_time: string;
  updated_time: string;
}

/** 'refuse': connection refused; 'sealed': 503 sealed; 'error': 500; 'hang': accept, never answer. */
export type DownMode = 'refuse' | 'sealed' | 'error' | 'hang';

class VaultHttpError extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
  ) {
    super(errors.join('; '));
  }
}

const DEFAULT_POLICY = ['auth/token/lookup-self', 'auth/token/renew-self', 'auth/token/revoke-self'];

export class VaultDouble {
  readonly rootToken: string;
  /** Every request seen: method, path (no query), status. */
  readonly requests: { method: string; path: string; status: number }[] = [];
  private readonly app: FastifyInstance;
  private server!: Server;
  private port = 0;
  private mode: DownMode | 'up' = 'up';
  private readonly hung = new Set<ServerResponse>();
  private readonly tokens = new Map<string, TokenEntry>();
  private readonly accessors = new Map<string, string>();
  private readonly leases = new Map<string, DoubleLease>();
  private readonly kv = new Map<string, Map<string, KvKey>>();
  private readonly issued: string[] = [];
  private readonly options: Required<Omit<VaultDoubleOptions, 'databaseRoles' | 'awsRoles' | 'rootToken'>> &
    Pick<VaultDoubleOptions, 'databaseRoles' | 'awsRoles'>;

  private constructor(options: VaultDoubleOptions) {
    this.rootToken = options.rootToken ?? `hvs.root-${randomBytes(12).toString('hex')}`;
    this.options = {
      kvMounts: options.kvMounts ?? ['secret'],
      databaseMounts: options.databaseMounts ?? ['database'],
      awsMounts: options.awsMounts ?? ['aws'],
      policies: options.policies ?? {},
      maxTokenTtlSeconds: options.maxTokenTtlSeconds ?? 32 * 24 * 3600,
      echoRequestBodyInErrors: options.echoRequestBodyInErrors ?? false,
      now: options.now ?? Date.now,
      databaseRoles: options.databaseRoles,
      awsRoles: options.awsRoles,
    };
    for (const m of this.options.kvMounts) this.kv.set(m, new Map());
    this.tokens.set(this.rootToken, {
      token: this.rootToken,
      accessor: randomId(),
      policies: ['root'],
      meta: {},
      expiresAt: null,
      parent: null,
      orphan: true,
      displayName: 'root',
    });
    this.accessors.set(this.tokens.get(this.rootToken)!.accessor, this.rootToken);
    this.app = Fastify({
      logger: false,
      serverFactory: (handler) => {
        this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
          if (this.mode === 'refuse') {
            req.socket.destroy();
            return;
          }
          if (this.mode === 'hang') {
            this.hung.add(res);
            return;
          }
          handler(req, res);
        });
        return this.server;
      },
    });
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
      const text = String(body);
      if (text.trim() === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch {
        done(new VaultHttpError(400, ['failed to parse JSON input']), undefined);
      }
    });
    this.app.setErrorHandler((err, req, reply) => {
      const status = err instanceof VaultHttpError ? err.status : 500;
      const errors = err instanceof VaultHttpError ? err.errors : ['internal error'];
      this.log(req, status);
      void reply.code(status).send({ errors });
    });
    this.app.route({
      method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'],
      url: '/v1/*',
      handler: (req, reply) => this.handle(req, reply),
    });
    this.app.setNotFoundHandler((req, reply) => {
      this.log(req, 404);
      void reply.code(404).send({ errors: [] });
    });
  }

  static async start(options: VaultDoubleOptions = {}): Promise<VaultDouble> {
    const double = new VaultDouble(options);
    await double.app.ready();
    await double.listen(0);
    return double;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Simulate an outage until `comeBack()`. */
  async goDown(mode: DownMode): Promise<void> {
    this.mode = mode;
    if (mode === 'refuse') {
      await new Promise<void>((resolve) => {
        this.server.close(() => resolve());
        this.server.closeAllConnections();
      });
    }
  }

  async comeBack(): Promise<void> {
    const wasRefusing = this.mode === 'refuse';
    this.mode = 'up';
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    if (wasRefusing) await this.listen(this.port);
  }

  async stop(): Promise<void> {
    if (this.mode === 'refuse') return;
    this.server.closeAllConnections();
    await this.app.close();
  }

  // ------------------------------------------------------------ inspection for tests

  /** Create a token directly (as if the root token had called auth/token/create). */
  createToken(policies: string[], ttlSeconds?: number): { token: string; accessor: string } {
    const entry = this.newToken(this.rootToken, policies, ttlSeconds ?? null, {}, false, 'test');
    return { token: entry.token, accessor: entry.accessor };
  }

  lease(leaseId: string): DoubleLease | undefined {
    return this.leases.get(leaseId);
  }

  allLeases(): DoubleLease[] {
    return [...this.leases.values()];
  }

  /** Is the token behind this accessor still usable? */
  accessorAlive(accessor: string): boolean {
    const token = this.accessors.get(accessor);
    return token !== undefined && this.liveToken(token) !== undefined;
  }

  /** Every secret value the double generated (tokens, passwords, keys): for leak checks. */
  issuedSecrets(): string[] {
    return [...this.issued];
  }

  /** Write a KV v2 version directly; returns its version number. */
  seedKv(mount: string, path: string, data: Record<string, unknown>): number {
    return this.kvWrite(mount, path, data, undefined);
  }

  /** Mark KV versions deleted (as DELETE .../delete would) without a request. */
  kvKey(mount: string, path: string): KvKey | undefined {
    return this.kv.get(mount)?.get(path);
  }

  // ------------------------------------------------------------ request handling

  private log(req: FastifyRequest, status: number): void {
    this.requests.push({ method: req.method, path: new URL(req.url, 'http://double').pathname, status });
  }

  private async handle(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const url = new URL(req.url, 'http://double');
    const path = url.pathname
      .slice('/v1/'.length)
      .split('/')
      .map((s) => decodeURIComponent(s))
      .join('/')
      .replace(/\/+$/, '');
    const body = (req.body ?? {}) as Record<string, unknown>;
    const send = (status: number, payload?: unknown) => {
      this.log(req, status);
      if (payload === undefined) void reply.code(status).send();
      else void reply.code(status).header('content-type', 'application/json').send(payload);
    };
    try {
      if (this.mode === 'error') throw new VaultHttpError(500, ['1 error occurred:\n\t* internal error\n\n']);
      if (path === 'sys/health') {
        const sealed = this.mode === 'sealed';
        return send(sealed ? 503 : 200, this.healthBody(sealed));
      }
      if (this.mode === 'sealed') throw new VaultHttpError(503, ['Vault is sealed']);
      const caller = this.authenticate(req.headers['x-vault-token']);
      this.authorize(caller, path);
      const result = this.dispatch(req.method, path, url.searchParams, body, caller);
      if (result === undefined) return send(204);
      return send(200, result);
    } catch (err) {
      if (err instanceof KvGoneError) return send(404, envelope(err.data));
      if (err instanceof VaultHttpError) {
        const errors =
          this.options.echoRequestBodyInErrors && err.status === 400 && req.body !== undefined
            ? err.errors.map((e) => `${e} (request: ${JSON.stringify(req.body)})`)
            : err.errors;
        return send(err.status, { errors });
      }
      throw err;
    }
  }

  private healthBody(sealed: boolean) {
    return {
      initialized: true,
      sealed,
      standby: sealed,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(this.options.now() / 1000),
      version: '1.17.0+test-double',
      cluster_name: 'vault-double',
      cluster_id: 'vault-double-cluster',
    };
  }

  private authenticate(header: string | string[] | undefined): TokenEntry {
    const token = Array.isArray(header) ? header[0] : header;
    const entry = token === undefined ? undefined : this.liveToken(token);
    if (entry === undefined) throw new VaultHttpError(403, ['permission denied']);
    return entry;
  }

  private liveToken(token: string): TokenEntry | undefined {
    const entry = this.tokens.get(token);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== null && entry.expiresAt <= this.options.now()) {
      this.revokeToken(entry.token);
      return undefined;
    }
    return entry;
  }

  private authorize(caller: TokenEntry, path: string): void {
    if (caller.policies.includes('root')) return;
    const globs = [...DEFAULT_POLICY];
    for (const p of caller.policies) globs.push(...(this.options.policies[p] ?? []));
    if (!globs.some((g) => globMatch(g, path))) throw new VaultHttpError(403, ['permission denied']);
  }

  private dispatch(
    method: string,
    path: string,
    query: URLSearchParams,
    body: Record<string, unknown>,
    caller: TokenEntry,
  ): unknown {
    const write = method === 'POST' || method === 'PUT';
    if (path === 'sys/leases/revoke' || path.startsWith('sys/leases/revoke/')) {
      if (!write) throw methodNotAllowed();
      const leaseId =
        path === 'sys/leases/revoke'
          ? body.lease_id
          : path.slice('sys/leases/revoke/'.length) || body.lease_id;
      if (typeof leaseId !== 'string' || leaseId === '') throw new VaultHttpError(400, ['missing lease ID']);
      this.revokeLease(leaseId, true);
      return undefined;
    }
    if (
      path === 'auth/token/create' ||
      path === 'auth/token/create-orphan' ||
      path.startsWith('auth/token/create/')
    ) {
      if (!write) throw methodNotAllowed();
      return this.tokenCreate(caller, body, path === 'auth/token/create-orphan' || body.no_parent === true);
    }
    if (path === 'auth/token/revoke-accessor') {
      if (!write) throw methodNotAllowed();
      const token = typeof body.accessor === 'string' ? this.accessors.get(body.accessor) : undefined;
      if (token === undefined || this.liveToken(token) === undefined)
        throw new VaultHttpError(400, ['invalid accessor']);
      this.revokeToken(token);
      return undefined;
    }
    if (path === 'auth/token/lookup-self') {
      return envelope({
        accessor: caller.accessor,
        policies: caller.policies,
        meta: caller.meta,
        display_name: caller.displayName,
        orphan: caller.orphan,
        ttl:
          caller.expiresAt === null
            ? 0
            : Math.max(0, Math.round((caller.expiresAt - this.options.now()) / 1000)),
      });
    }
    const [mount, op, rest] = this.splitMount(path);
    if (mount !== undefined && this.kv.has(mount)) return this.kvRoute(method, mount, op, rest, query, body);
    if (mount !== undefined && op === 'creds' && rest !== '') {
      if (this.options.databaseMounts.includes(mount)) {
        if (method !== 'GET') throw methodNotAllowed();
        return this.dynamic('database', mount, rest, caller);
      }
      if (this.options.awsMounts.includes(mount)) {
        if (method !== 'GET' && !write) throw methodNotAllowed();
        return this.dynamic('aws', mount, rest, caller, query.get('ttl') ?? (body.ttl as string | undefined));
      }
    }
    throw new VaultHttpError(404, [`no handler for route "${path}". route entry not found.`]);
  }

  /** `<mount>/<op>/<rest>` for the longest known mount that prefixes the path. */
  private splitMount(path: string): [string | undefined, string, string] {
    const mounts = [...this.kv.keys(), ...this.options.databaseMounts, ...this.options.awsMounts].sort(
      (a, b) => b.length - a.length,
    );
    const mount = mounts.find((m) => path.startsWith(`${m}/`));
    if (mount === undefined) return [undefined, '', ''];
    const after = path.slice(mount.length + 1);
    const slash = after.indexOf('/');
    return slash < 0 ? [mount, after, ''] : [mount, after.slice(0, slash), after.slice(slash + 1)];
  }

  // ------------------------------------------------------------ tokens

  private tokenCreate(caller: TokenEntry, body: Record<string, unknown>, orphan: boolean) {
    const asked = Array.isArray(body.policies) ? body.policies.map(String) : caller.policies;
    const policies = [...new Set(asked)];
    if (!caller.policies.includes('root')) {
      const allowed = new Set([...caller.policies, 'default']);
      if (policies.some((p) => !allowed.has(p)))
        throw new VaultHttpError(400, ['child policies must be subset of parent']);
    }
    if (orphan && !caller.policies.includes('root') && !this.allowed(caller, 'auth/token/create-orphan'))
      throw new VaultHttpError(403, ['permission denied']);
    const ttl = parseDuration(body.ttl);
    const explicitMax = parseDuration(body.explicit_max_ttl);
    let seconds = ttl ?? this.options.maxTokenTtlSeconds;
    if (explicitMax !== undefined && explicitMax > 0) seconds = Math.min(seconds, explicitMax);
    seconds = Math.min(seconds, this.options.maxTokenTtlSeconds);
    if (caller.expiresAt !== null)
      seconds = Math.min(seconds, Math.floor((caller.expiresAt - this.options.now()) / 1000));
    const meta = (body.meta ?? {}) as Record<string, string>;
    const entry = this.newToken(
      caller.token,
      policies,
      seconds,
      meta,
      orphan,
      typeof body.display_name === 'string' ? `token-${body.display_name}` : 'token',
    );
    const tokenPolicies = body.no_default_policy === true ? policies : [...new Set(['default', ...policies])];
    entry.policies = tokenPolicies;
    return {
      ...envelope(null),
      auth: {
        client_token: entry.token,
        accessor: entry.accessor,
        policies: tokenPolicies,
        token_policies: tokenPolicies,
        metadata: meta,
        lease_duration: seconds,
        renewable: body.renewable !== false,
        entity_id: '',
        token_type: 'service',
        orphan,
        mfa_requirement: null,
        num_uses: typeof body.num_uses === 'number' ? body.num_uses : 0,
      },
    };
  }

  private allowed(caller: TokenEntry, path: string): boolean {
    try {
      this.authorize(caller, path);
      return true;
    } catch {
      return false;
    }
  }

  private newToken(
    parent: string,
    policies: string[],
    ttlSeconds: number | null,
    meta: Record<string, string>,
    orphan: boolean,
    displayName: string,
  ): TokenEntry {
    const entry: TokenEntry = {
      token: `hvs.${randomBytes(18).toString('base64url')}`,
      accessor: randomId(),
      policies,
      meta,
      expiresAt: ttlSeconds === null ? null : this.options.now() + ttlSeconds * 1000,
      parent: orphan ? null : parent,
      orphan,
      displayName,
    };
    this.tokens.set(entry.token, entry);
    this.accessors.set(entry.accessor, entry.token);
    this.issued.push(entry.token);
    return entry;
  }

  /** Revoke a token, its child tokens and the leases it created (as Vault does). */
  private revokeToken(token: string): void {
    const entry = this.tokens.get(token);
    if (entry === undefined) return;
    this.tokens.delete(token);
    this.accessors.delete(entry.accessor);
    for (const child of [...this.tokens.values()]) if (child.parent === token) this.revokeToken(child.token);
    for (const lease of this.leases.values())
      if (lease.token === token) this.revokeLease(lease.leaseId, false);
  }

  // ------------------------------------------------------------ dynamic secrets and leases

  private dynamic(engine: 'database' | 'aws', mount: string, role: string, caller: TokenEntry, ttl?: string) {
    const roles = engine === 'database' ? this.options.databaseRoles : this.options.awsRoles;
    const known = roles?.[role];
    if (roles !== undefined && known === undefined) throw new VaultHttpError(400, [`unknown role: ${role}`]);
    const asked = parseDuration(ttl);
    const seconds = Math.min(asked ?? known?.ttlSeconds ?? 3600, known?.ttlSeconds ?? 3600);
    const now = this.options.now();
    const leaseId = `${mount}/creds/${role}/${randomId()}`;
    const data =
      engine === 'database'
        ? {
            username: `v-token-${role}-${randomId().slice(0, 12)}`,
            password: randomBytes(15).toString('base64url'),
          }
        : {
            access_key: `AKIA${randomBytes(10).toString('hex').toUpperCase().slice(0, 16)}`,
            secret_key: randomBytes(30).toString('base64'),
            security_token: null,
          };
    for (const v of Object.values(data)) if (typeof v === 'string') this.issued.push(v);
    this.leases.set(leaseId, {
      leaseId,
      engine,
      role,
      issuedAt: now,
      expiresAt: now + seconds * 1000,
      token: caller.token,
      revoked: false,
      revocations: 0,
      revokeCalls: 0,
    });
    return { ...envelope(data), lease_id: leaseId, renewable: true, lease_duration: seconds };
  }

  private revokeLease(leaseId: string, viaApi: boolean): void {
    const lease = this.leases.get(leaseId);
    if (lease === undefined) return;
    if (viaApi) lease.revokeCalls += 1;
    if (lease.revoked || lease.expiresAt <= this.options.now()) return;
    lease.revoked = true;
    lease.revocations += 1;
  }

  // ------------------------------------------------------------ KV v2

  private kvRoute(
    method: string,
    mount: string,
    op: string,
    path: string,
    query: URLSearchParams,
    body: Record<string, unknown>,
  ): unknown {
    if (path === '') throw new VaultHttpError(404, []);
    const keys = this.kv.get(mount)!;
    const key = keys.get(path);
    const write = method === 'POST' || method === 'PUT';
    if (op === 'data') {
      if (method === 'GET') {
        if (key === undefined || key.current_version === 0) throw new VaultHttpError(404, []);
        const v =
          query.has('version') && query.get('version') !== '0'
            ? Number(query.get('version'))
            : key.current_version;
        const version = key.versions.get(v);
        if (version === undefined) throw new VaultHttpError(404, []);
        const metadata = versionMeta(key, v, version);
        if (version.data === null || version.deletion_time !== '')
          throw new KvGoneError({ data: null, metadata });
        return envelope({ data: version.data, metadata });
      }
      if (write) {
        if (body.data === undefined || body.data === null || typeof body.data !== 'object')
          throw new VaultHttpError(400, ['no data provided']);
        const cas = (body.options as { cas?: unknown } | undefined)?.cas;
        const version = this.kvWrite(mount, path, body.data as Record<string, unknown>, cas);
        const k = keys.get(path)!;
        return envelope(versionMeta(k, version, k.versions.get(version)!));
      }
      if (method === 'DELETE') {
        if (key !== undefined) {
          const latest = key.versions.get(key.current_version);
          if (latest !== undefined && !latest.destroyed) latest.deletion_time = this.iso();
        }
        return undefined;
      }
      throw methodNotAllowed();
    }
    if (op === 'metadata') {
      if (method === 'GET') {
        if (key === undefined) throw new VaultHttpError(404, []);
        const versions: Record<string, unknown> = {};
        for (const [n, v] of key.versions)
          versions[String(n)] = {
            created_time: v.created_time,
            deletion_time: v.deletion_time,
            destroyed: v.destroyed,
          };
        return envelope({
          cas_required: key.cas_required,
          created_time: key.created_time,
          current_version: key.current_version,
          custom_metadata: key.custom_metadata,
          delete_version_after: '0s',
          max_versions: key.max_versions,
          oldest_version: key.oldest_version,
          updated_time: key.updated_time,
          versions,
        });
      }
      if (write) {
        const k = key ?? this.newKey(mount, path);
        if (body.custom_metadata !== undefined) {
          const cm = body.custom_metadata as Record<string, unknown> | null;
          k.custom_metadata =
            cm === null ? null : Object.fromEntries(Object.entries(cm).map(([a, b]) => [a, String(b)]));
        }
        if (typeof body.max_versions === 'number') k.max_versions = body.max_versions;
        if (typeof body.cas_required === 'boolean') k.cas_required = body.cas_required;
        k.updated_time = this.iso();
        return undefined;
      }
      if (method === 'DELETE') {
        keys.delete(path);
        return undefined;
      }
      throw methodNotAllowed();
    }
    if (op === 'undelete') {
      if (!write) throw methodNotAllowed();
      const versions = Array.isArray(body.versions) ? body.versions.map(Number) : [];
      if (versions.length === 0) throw new VaultHttpError(400, ['no version number provided']);
      for (const n of versions) {
        const v = key?.versions.get(n);
        if (v !== undefined && !v.destroyed) v.deletion_time = '';
      }
      return undefined;
    }
    if (op === 'destroy') {
      if (!write) throw methodNotAllowed();
      const versions = Array.isArray(body.versions) ? body.versions.map(Number) : [];
      if (versions.length === 0) throw new VaultHttpError(400, ['no version number provided']);
      for (const n of versions) {
        const v = key?.versions.get(n);
        if (v !== undefined) {
          v.destroyed = true;
          v.data = null;
        }
      }
      return undefined;
    }
    throw new VaultHttpError(404, [`no handler for route "${mount}/${op}/${path}". route entry not found.`]);
  }

  private newKey(mount: string, path: string): KvKey {
    const now = this.iso();
    const key: KvKey = {
      versions: new Map(),
      current_version: 0,
      oldest_version: 0,
      max_versions: 0,
      cas_required: false,
      custom_metadata: null,
      created_time: now,
      updated_time: now,
    };
    this.kv.get(mount)!.set(path, key);
    return key;
  }

  private kvWrite(mount: string, path: string, data: Record<string, unknown>, cas: unknown): number {
    const keys = this.kv.get(mount);
    if (keys === undefined) throw new VaultHttpError(404, []);
    const existing = keys.get(path);
    if (existing?.cas_required === true && cas === undefined)
      throw new VaultHttpError(400, ['check-and-set parameter required for this call']);
    if (cas !== undefined) {
      const expected = Number(cas);
      if ((existing?.current_version ?? 0) !== expected)
        throw new VaultHttpError(400, ['check-and-set parameter did not match the current version']);
    }
    const key = existing ?? this.newKey(mount, path);
    const version = key.current_version + 1;
    key.versions.set(version, {
      data: { ...data },
      created_time: this.iso(),
      deletion_time: '',
      destroyed: false,
    });
    key.current_version = version;
    key.updated_time = this.iso();
    if (key.oldest_version === 0) key.oldest_version = 1;
    const max = key.max_versions > 0 ? key.max_versions : 10;
    while (key.versions.size > max) {
      key.versions.delete(key.oldest_version);
      key.oldest_version += 1;
    }
    return version;
  }

  private iso(): string {
    return new Date(this.options.now()).toISOString();
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }
}

/** Vault answers a deleted/destroyed version with 404 and the version's metadata. */
class KvGoneError extends VaultHttpError {
  constructor(readonly data: unknown) {
    super(404, []);
  }
}

function versionMeta(key: KvKey, n: number, v: KvVersion) {
  return {
    created_time: v.created_time,
    custom_metadata: key.custom_metadata,
    deletion_time: v.deletion_time,
    destroyed: v.destroyed,
    version: n,
  };
}

function envelope(data: unknown) {
  return {
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: null,
    auth: null,
  };
}

function methodNotAllowed(): VaultHttpError {
  return new VaultHttpError(405, ['1 error occurred:\n\t* unsupported operation\n\n']);
}

function randomId(): string {
  return randomBytes(12).toString('base64url');
}

/** Vault path globs: a trailing `*` matches any suffix, `+` one whole segment. */
function globMatch(glob: string, path: string): boolean {
  const prefix = glob.endsWith('*');
  const g = (prefix ? glob.slice(0, -1) : glob).split('/');
  const p = path.split('/');
  if (!prefix && g.length !== p.length) return false;
  for (let i = 0; i < g.length; i++) {
    const gs = g[i] as string;
    const ps = p[i];
    if (ps === undefined) return false;
    const last = i === g.length - 1;
    if (gs === '+') continue;
    if (prefix && last) return ps.startsWith(gs);
    if (gs !== ps) return false;
  }
  return true;
}

/** "90", 90, "90s", "5m", "2h", "1h30m" -> seconds. */
function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string' || value === '') return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  let total = 0;
  let matched = '';
  for (const m of value.matchAll(/(\d+)(h|m|s)/g)) {
    total += Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
    matched += m[0];
  }
  if (matched !== value) throw new VaultHttpError(400, [`invalid duration "${value}"`]);
  return total;
}
