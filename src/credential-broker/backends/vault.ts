/**
 * HashiCorp Vault (and OpenBao), through `node-vault`, on Vault's documented HTTP API:
 *
 *  - KV v2 read:          GET  /v1/<mount>/data/<path>[?version=N]
 *  - KV v2 write:         POST /v1/<mount>/data/<path>  {"options":{"cas":N},"data":{...}}
 *  - KV v2 metadata:      GET/POST /v1/<mount>/metadata/<path> (versions, custom_metadata)
 *  - token creation:      POST /v1/auth/token/create[-orphan | /<role>] -> auth.client_token,
 *                         auth.accessor, auth.lease_duration
 *  - token revocation:    POST /v1/auth/token/revoke-accessor {"accessor"}
 *  - dynamic secrets:     GET  /v1/<mount>/creds/<role> -> lease_id, lease_duration, data
 *  - lease revocation:    PUT  /v1/sys/leases/revoke {"lease_id"}
 *  - health:              GET  /v1/sys/health (200 active, 429 standby, 503 sealed, 501 uninit)
 *
 * Errors come back as `{"errors":[...]}`; their text is surfaced (with every value the
 * call carried redacted) under a code from errors.ts.
 *
 * Rotation of a KV v2 static key writes a new version with check-and-set on the current
 * one, so the previous version stays in the key's history for rollback. To make a crash
 * between that write and the caller's own bookkeeping detectable, the rotation first
 * sets `meshbridge-rotation-from=<version>` in the key's custom_metadata and clears it
 * after the write: a marker left behind with no newer version means nothing was written
 * ('marked'); with a newer version, the write landed ('promoted').
 *
 * Rollback: KV v2 has no server-side "make version N current" call (`vault kv rollback`
 * is client-side too); rollback reads version N and writes its data as a new version,
 * check-and-set on the current one. History stays append-only; the rolled-back-from
 * version remains readable for a roll forward.
 *
 * Retirement soft-deletes the current version (`DELETE <mount>/data/<path>`, which
 * deletes the latest version): reads 404 until `restore` undeletes it
 * (`POST <mount>/undelete/<path>` {versions:[n]}). Never `metadata` delete or `destroy`,
 * which are permanent.
 *
 * `node-vault`'s own `tokenCreate` is not used: it replaces the client's token with the
 * token it created. Requests go through `client.request` with paths built here.
 */
import { randomBytes } from 'node:crypto';
import nodeVault from 'node-vault';
import { type Clock, systemClock } from '../../spiffe/errors.js';
import type {
  BackendHealth,
  CredentialBackend,
  IssuedCredential,
  IssueRequest,
  PendingRotation,
  RecoveryResult,
  RestoreResult,
  RetireOptions,
  RetireResult,
  RollbackOptions,
  RotateOptions,
  RotatingSecretStore,
  RotationResult,
  SecretDescription,
  SecretValue,
  StaticSecret,
} from './backend.js';
import {
  BackendError,
  type BackendErrorCode,
  collectStrings,
  networkErrorCode,
  redactSecrets,
} from './errors.js';
import { generateNextValue, hmacReference, ReferenceKey } from './random.js';
import type { VaultCredentialSpec } from './schemas.js';

export const ROTATION_MARKER_FROM = 'meshbridge-rotation-from';
export const ROTATION_MARKER_STARTED = 'meshbridge-rotation-started';
/** Prefix of the backendLeaseId of a token (revoked by accessor, not through sys/leases). */
export const TOKEN_ACCESSOR_PREFIX = 'token-accessor:';

export interface VaultBackendOptions {
  name?: string;
  /** e.g. https://vault.internal:8200 */
  address: string;
  /** The broker's own token. */
  token: string;
  namespace?: string;
  /** KV v2 mounts; a location splits at the longest that prefixes it. Omitted: the first path segment. */
  kvMounts?: string[];
  requestTimeoutMs?: number;
  /** PEM CA bundle for Vault's TLS certificate. */
  ca?: string | Buffer;
  restoreWindowSeconds?: number;
  /** Key of the HMAC references of tokens; omitted: random per process. */
  referenceKey?: Uint8Array;
  clock?: Clock;
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
type Json = Record<string, unknown>;

interface KvLocation {
  mount: string;
  path: string;
  /** `<mount>/data/<path>` with each segment URL-encoded. */
  dataPath: string;
  metadataPath: string;
  /** `<mount>/undelete/<path>` with each segment URL-encoded. */
  undeletePath: string;
  /** Human-readable `vault:<mount>/data/<path>`. */
  name: string;
}

interface KvVersionMeta {
  created_time?: string;
  deletion_time?: string;
  destroyed?: boolean;
}

interface KvMetadata {
  current_version: number;
  custom_metadata: Record<string, string> | null;
  versions: Record<string, KvVersionMeta>;
}

interface KvRead {
  data: Json;
  value: SecretValue;
  version: number;
  createdAt?: Date;
}

const SERVICE = 'Vault';

export class VaultBackend implements CredentialBackend, RotatingSecretStore {
  readonly kind = 'vault' as const;
  readonly name: string;
  private readonly client: nodeVault.client;
  private readonly token: string;
  private readonly kvMounts: string[] | undefined;
  private readonly timeout: number;
  private readonly restoreWindowSeconds: number | undefined;
  private readonly referenceKey: ReferenceKey;
  private readonly clock: Clock;
  private readonly revoking = new Map<string, Promise<void>>();

  constructor(options: VaultBackendOptions) {
    this.name = options.name ?? 'vault';
    this.token = options.token;
    this.kvMounts =
      options.kvMounts === undefined
        ? undefined
        : [...options.kvMounts].map((m) => m.replace(/^\/+|\/+$/g, '')).sort((a, b) => b.length - a.length);
    this.timeout = options.requestTimeoutMs ?? 5000;
    this.restoreWindowSeconds = options.restoreWindowSeconds;
    this.referenceKey = new ReferenceKey(options.referenceKey ?? randomBytes(32));
    this.clock = options.clock ?? systemClock;
    const vaultOptions: nodeVault.VaultOptions = {
      apiVersion: 'v1',
      endpoint: options.address,
      token: options.token,
      // node-vault logs request bodies (secrets) through `debug` when DEBUG=node-vault: never.
      debug: () => {},
    };
    if (options.namespace !== undefined) vaultOptions.namespace = options.namespace;
    if (options.ca !== undefined) vaultOptions.requestOptions = { ca: options.ca };
    this.client = nodeVault(vaultOptions);
  }

  // ------------------------------------------------------------ CredentialBackend

  async issue(request: IssueRequest): Promise<IssuedCredential> {
    const spec = request.spec;
    if (spec.type !== 'vault')
      throw new BackendError(
        'BACKEND_SPEC_INVALID',
        `credential ${request.credential} is of type ${spec.type}; the Vault backend cannot issue it`,
      );
    if (!Number.isInteger(request.ttlSeconds) || request.ttlSeconds < 1)
      throw new BackendError('BACKEND_SPEC_INVALID', 'the TTL must be a whole number of seconds >= 1');
    switch (spec.kind) {
      case 'kv':
        return this.issueKv(request, spec);
      case 'token':
        return this.issueToken(request, spec);
      case 'database':
      case 'aws':
        return this.issueDynamic(request, spec);
    }
  }

  private async issueKv(
    request: IssueRequest,
    spec: Extract<VaultCredentialSpec, { kind: 'kv' }>,
  ): Promise<IssuedCredential> {
    const loc = this.kvLocation(spec.path);
    const read = await this.kvRead(loc, spec.version);
    let secret = read.value;
    if (spec.fields !== undefined) {
      const missing = spec.fields.filter((f) => !(f in read.value));
      if (missing.length > 0)
        throw new BackendError(
          'BACKEND_SPEC_INVALID',
          `${loc.name} has no field ${missing.join(', ')}; fix the credential's fields`,
        );
      secret = Object.fromEntries(spec.fields.map((f) => [f, read.value[f] as string]));
    }
    return {
      secret,
      expiresAt: new Date(this.clock().getTime() + request.ttlSeconds * 1000),
      reference: `${loc.name}#v${read.version}`,
    };
  }

  private async issueToken(
    request: IssueRequest,
    spec: Extract<VaultCredentialSpec, { kind: 'token' }>,
  ): Promise<IssuedCredential> {
    const path =
      spec.role !== undefined
        ? `auth/token/create/${encodeURIComponent(spec.role)}`
        : spec.orphan === true
          ? 'auth/token/create-orphan'
          : 'auth/token/create';
    const meta: Record<string, string> = { spiffe_id: request.subject, credential: request.credential };
    if (request.leaseId !== undefined) meta.broker_lease = request.leaseId;
    const body: Json = {
      policies: spec.policies,
      ttl: `${request.ttlSeconds}s`,
      explicit_max_ttl: `${request.ttlSeconds}s`,
      renewable: spec.renewable ?? false,
      display_name: request.credential,
      meta,
    };
    if (spec.noDefaultPolicy !== undefined) body.no_default_policy = spec.noDefaultPolicy;
    if (spec.numUses !== undefined) body.num_uses = spec.numUses;
    const started = this.clock().getTime();
    const res = await this.request('create token', 'POST', path, body);
    const auth = (res?.auth ?? null) as {
      client_token?: unknown;
      accessor?: unknown;
      lease_duration?: unknown;
    } | null;
    if (auth === null || typeof auth.client_token !== 'string' || typeof auth.accessor !== 'string')
      throw new BackendError(
        'BACKEND_RESPONSE_INVALID',
        `${SERVICE} ${path} returned no auth.client_token/accessor`,
      );
    const granted =
      typeof auth.lease_duration === 'number' && auth.lease_duration > 0 ? auth.lease_duration : undefined;
    return {
      secret: { token: auth.client_token },
      expiresAt: new Date(started + Math.min(request.ttlSeconds, granted ?? request.ttlSeconds) * 1000),
      backendLeaseId: `${TOKEN_ACCESSOR_PREFIX}${auth.accessor}`,
      reference: `vault:${path}#${hmacReference(this.referenceKey, auth.client_token)}`,
    };
  }

  private async issueDynamic(
    request: IssueRequest,
    spec: Extract<VaultCredentialSpec, { kind: 'database' | 'aws' }>,
  ): Promise<IssuedCredential> {
    const mount = (spec.mount ?? spec.kind).replace(/^\/+|\/+$/g, '');
    let path = `${mount}/creds/${encodeURIComponent(spec.role)}`;
    if (spec.sendTtl === true) path += `?ttl=${request.ttlSeconds}s`;
    const started = this.clock().getTime();
    const res = await this.request(`read ${spec.kind} credentials`, 'GET', path);
    const leaseId = res?.lease_id;
    const data = res?.data;
    if (typeof leaseId !== 'string' || leaseId.length === 0 || data === null || typeof data !== 'object')
      throw new BackendError('BACKEND_RESPONSE_INVALID', `${SERVICE} ${path} returned no lease_id or data`);
    const secret: Record<string, string> = {};
    for (const [k, v] of Object.entries(data as Json)) {
      if (typeof v === 'string') secret[k] = v;
      else if (v !== null && v !== undefined) secret[k] = JSON.stringify(v);
    }
    const duration =
      typeof res.lease_duration === 'number' && res.lease_duration > 0 ? res.lease_duration : undefined;
    return {
      secret,
      expiresAt: new Date(started + Math.min(request.ttlSeconds, duration ?? request.ttlSeconds) * 1000),
      backendLeaseId: leaseId,
      reference: `vault:${leaseId}`,
    };
  }

  /**
   * `token-accessor:<accessor>` revokes the token (and its children) by accessor; anything
   * else is a Vault lease id for sys/leases/revoke. Vault answers 204 for a lease that is
   * already gone; an accessor that is already gone ("invalid accessor") counts as revoked.
   */
  async revoke(backendLeaseId: string): Promise<void> {
    if (typeof backendLeaseId !== 'string' || backendLeaseId.trim().length === 0)
      throw new BackendError('BACKEND_LEASE_ID_INVALID', 'a Vault lease id or token accessor is required');
    const inflight = this.revoking.get(backendLeaseId);
    if (inflight !== undefined) return inflight;
    const run = this.revokeOnce(backendLeaseId).finally(() => this.revoking.delete(backendLeaseId));
    this.revoking.set(backendLeaseId, run);
    return run;
  }

  private async revokeOnce(id: string): Promise<void> {
    if (id.startsWith(TOKEN_ACCESSOR_PREFIX)) {
      const accessor = id.slice(TOKEN_ACCESSOR_PREFIX.length);
      try {
        await this.request('revoke token', 'POST', 'auth/token/revoke-accessor', { accessor });
      } catch (err) {
        if (
          err instanceof BackendError &&
          err.code === 'BACKEND_REQUEST_REJECTED' &&
          /invalid accessor/i.test(err.message)
        )
          return;
        throw err;
      }
      return;
    }
    await this.request('revoke lease', 'PUT', 'sys/leases/revoke', { lease_id: id });
  }

  async health(): Promise<BackendHealth> {
    const checkedAt = this.clock();
    let body: unknown;
    try {
      // node-vault hands back the body of sys/health whatever the status code.
      body = await this.client.request({
        path: '/sys/health?standbyok=true&perfstandbyok=true',
        method: 'GET',
        timeout: this.timeout,
      });
    } catch (err) {
      return {
        ok: false,
        status: 'down',
        checkedAt,
        message: mapVaultError(err, 'health', 'sys/health', []).message,
      };
    }
    const h = (body ?? {}) as { initialized?: unknown; sealed?: unknown; standby?: unknown };
    if (typeof h !== 'object' || typeof h.sealed !== 'boolean')
      return {
        ok: false,
        status: 'down',
        checkedAt,
        message: 'Vault sys/health answered without a health document',
      };
    if (h.initialized === false)
      return { ok: false, status: 'down', checkedAt, message: 'Vault is not initialized' };
    if (h.sealed) return { ok: false, status: 'sealed', checkedAt, message: 'Vault is sealed; unseal it' };
    if (h.standby === true)
      return { ok: true, status: 'degraded', checkedAt, message: 'standby node (forwards requests)' };
    return { ok: true, status: 'up', checkedAt };
  }

  async close(): Promise<void> {
    this.client.stopAllRenewals();
  }

  // ------------------------------------------------------------ RotatingSecretStore

  async readCurrent(location: string): Promise<StaticSecret> {
    const loc = this.kvLocation(location);
    return toStatic(loc, await this.kvRead(loc));
  }

  async readVersion(location: string, version: string): Promise<StaticSecret> {
    const loc = this.kvLocation(location);
    return toStatic(loc, await this.kvRead(loc, parseVersion(version)));
  }

  async describe(location: string): Promise<SecretDescription> {
    const loc = this.kvLocation(location);
    const meta = await this.kvMetadata(loc);
    const previous = previousLive(meta);
    const versions = Object.entries(meta.versions)
      .map(([v, info]) => {
        const n = Number(v);
        const stages: string[] = [];
        if (n === meta.current_version) stages.push('current');
        if (n === previous) stages.push('previous');
        if (info.destroyed === true) stages.push('destroyed');
        else if (isDeleted(info)) stages.push('deleted');
        const out: SecretDescription['versions'][number] = { version: v, stages };
        const created = parseTime(info.created_time);
        if (created !== undefined) out.createdAt = created;
        return out;
      })
      .sort((a, b) => Number(b.version) - Number(a.version));
    const description: SecretDescription = {
      location: `${loc.mount}/${loc.path}`,
      reference: loc.name,
      currentVersion: String(meta.current_version),
      pending: pendingOf(meta),
      versions,
    };
    if (previous !== undefined) description.previousVersion = String(previous);
    const currentInfo = meta.versions[String(meta.current_version)];
    if (currentInfo !== undefined && currentInfo.destroyed !== true && isDeleted(currentInfo)) {
      description.deleted = { version: String(meta.current_version) };
      const at = parseTime(currentInfo.deletion_time);
      if (at !== undefined) description.deleted.deletedAt = at;
    }
    return description;
  }

  async pendingRotation(location: string): Promise<PendingRotation | null> {
    return pendingOf(await this.kvMetadata(this.kvLocation(location)));
  }

  async rotate(
    location: string,
    newValue?: SecretValue,
    options: RotateOptions = {},
  ): Promise<RotationResult> {
    const loc = this.kvLocation(location);
    let meta = await this.kvMetadata(loc);
    const pending = pendingOf(meta);
    if (pending !== null) {
      const onPending = options.onPending ?? 'finish';
      if (onPending === 'fail') throw pendingError(loc, pending);
      if (onPending === 'undo' || pending.stage === 'marked') {
        if (onPending === 'undo') await this.undoRotation(location);
        else await this.setMarker(loc, meta, undefined);
        meta = await this.kvMetadata(loc);
      } else {
        if (newValue !== undefined) {
          const written = await this.kvRead(loc, meta.current_version);
          if (!sameValue(written.value, newValue)) throw pendingError(loc, pending, true);
        }
        const done = await this.finishRotation(location);
        return {
          previousVersion: pending.fromVersion,
          newVersion: done.currentVersion,
          reference: `${loc.name}#v${done.currentVersion}`,
          recovered: true,
        };
      }
    }

    const from = meta.current_version;
    if (from < 1) throw notFound(loc);
    const current = await this.kvRead(loc, from);
    const next = newValue ?? generateNextValue(current.value, options.generate);
    const data: Json = newValue === undefined ? mergeChanged(current, next) : { ...next };
    await this.setMarker(loc, meta, from);
    await options.onStep?.('marked', { fromVersion: String(from) });
    let written: number;
    try {
      written = await this.kvWrite(loc, data, from, Object.values(next));
    } catch (err) {
      // A check-and-set refusal means nothing of ours was written: drop the marker.
      if (err instanceof BackendError && err.code === 'BACKEND_CONFLICT')
        await this.setMarker(loc, await this.kvMetadata(loc), undefined).catch(() => {});
      throw err;
    }
    await options.onStep?.('promoted', { fromVersion: String(from), pendingVersion: String(written) });
    await this.setMarker(loc, await this.kvMetadata(loc), undefined);
    await options.onStep?.('cleared', { fromVersion: String(from), pendingVersion: String(written) });
    return {
      previousVersion: String(from),
      newVersion: String(written),
      reference: `${loc.name}#v${written}`,
      recovered: false,
    };
  }

  async finishRotation(location: string): Promise<RecoveryResult> {
    const loc = this.kvLocation(location);
    const meta = await this.kvMetadata(loc);
    const pending = pendingOf(meta);
    const currentVersion = String(meta.current_version);
    if (pending === null) return { outcome: 'nothing-pending', currentVersion };
    await this.setMarker(loc, meta, undefined);
    if (pending.stage === 'marked') return { outcome: 'discarded', currentVersion };
    return { outcome: 'finished', currentVersion, previousVersion: pending.fromVersion };
  }

  async undoRotation(location: string): Promise<RecoveryResult> {
    const loc = this.kvLocation(location);
    const meta = await this.kvMetadata(loc);
    const pending = pendingOf(meta);
    if (pending === null) return { outcome: 'nothing-pending', currentVersion: String(meta.current_version) };
    if (pending.stage === 'marked') {
      await this.setMarker(loc, meta, undefined);
      return { outcome: 'discarded', currentVersion: String(meta.current_version) };
    }
    const before = await this.kvRead(loc, Number(pending.fromVersion));
    const restored = await this.kvWrite(loc, before.data, meta.current_version, Object.values(before.value));
    await this.setMarker(loc, await this.kvMetadata(loc), undefined);
    return {
      outcome: 'undone',
      currentVersion: String(restored),
      previousVersion: String(meta.current_version),
    };
  }

  async rollback(
    location: string,
    toVersion: string,
    options: RollbackOptions = {},
  ): Promise<RotationResult> {
    const loc = this.kvLocation(location);
    const target = parseVersion(toVersion);
    const meta = await this.kvMetadata(loc);
    const pending = pendingOf(meta);
    if (pending !== null) throw pendingError(loc, pending);
    const current = meta.current_version;
    if (target === current)
      return {
        previousVersion: String(current),
        newVersion: String(current),
        reference: `${loc.name}#v${current}`,
        recovered: false,
      };
    const info = meta.versions[String(target)];
    if (info === undefined || info.destroyed === true || isDeleted(info))
      throw new BackendError(
        'BACKEND_VERSION_NOT_FOUND',
        `${loc.name} has no readable version ${target} (never written, deleted, destroyed or past max_versions)`,
        { path: loc.name, version: target },
      );
    const window = options.restoreWindowSeconds ?? this.restoreWindowSeconds;
    if (window !== undefined) {
      const successor = Object.keys(meta.versions)
        .map(Number)
        .filter((n) => n > target)
        .sort((a, b) => a - b)[0];
      const supersededAt =
        successor === undefined ? undefined : parseTime(meta.versions[String(successor)]?.created_time);
      const now = this.clock().getTime();
      if (supersededAt !== undefined && now - supersededAt.getTime() > window * 1000)
        throw new BackendError(
          'BACKEND_RESTORE_WINDOW_PASSED',
          `${loc.name}: version ${target} was replaced at ${supersededAt.toISOString()}, more than ${window}s ago; the restore window has passed`,
          { path: loc.name, version: target },
        );
    }
    const old = await this.kvRead(loc, target);
    const written = await this.kvWrite(loc, old.data, current, Object.values(old.value));
    return {
      previousVersion: String(current),
      newVersion: String(written),
      reference: `${loc.name}#v${written}`,
      recovered: false,
    };
  }

  async retire(location: string, options: RetireOptions): Promise<RetireResult> {
    const loc = this.kvLocation(location);
    const meta = await this.kvMetadata(loc);
    const current = meta.current_version;
    if (current < 1) throw notFound(loc);
    const info = meta.versions[String(current)];
    const restorableUntil = new Date(this.clock().getTime() + options.restoreWindowSeconds * 1000);
    const reference = `${loc.name}#v${current}`;
    if (info?.destroyed === true)
      throw new BackendError(
        'BACKEND_VERSION_NOT_FOUND',
        `${loc.name}: version ${current} is destroyed; there is nothing left to retire restorably`,
        { path: loc.name, version: current },
      );
    if (info !== undefined && isDeleted(info))
      return {
        reference,
        version: String(current),
        restorableUntil,
        changed: false,
        expiresDownstream: false,
      };
    const pending = pendingOf(meta);
    if (pending !== null) throw pendingError(loc, pending);
    // Soft delete of the latest version; metadata delete and destroy would be permanent.
    await this.request('delete', 'DELETE', loc.dataPath);
    const after = await this.kvMetadata(loc);
    if (after.current_version !== current)
      throw new BackendError(
        'BACKEND_CONFLICT',
        `${loc.name}: a version was written while it was being retired (now ${after.current_version}, was ${current}); describe it and retry`,
        { path: loc.name, version: current },
      );
    return { reference, version: String(current), restorableUntil, changed: true, expiresDownstream: false };
  }

  async restore(location: string): Promise<RestoreResult> {
    const loc = this.kvLocation(location);
    const meta = await this.kvMetadata(loc);
    const current = meta.current_version;
    if (current < 1) throw notFound(loc);
    const info = meta.versions[String(current)];
    const reference = `${loc.name}#v${current}`;
    if (info?.destroyed === true)
      throw new BackendError(
        'BACKEND_VERSION_NOT_FOUND',
        `${loc.name}: version ${current} was destroyed; it cannot be restored`,
        { path: loc.name, version: current },
      );
    if (info === undefined || !isDeleted(info))
      return { reference, version: String(current), changed: false };
    await this.request('undelete', 'POST', loc.undeletePath, { versions: [current] });
    return { reference, version: String(current), changed: true };
  }

  // ------------------------------------------------------------ KV v2 internals

  /** Split `<mount>/<path>` (an optional `vault:` prefix is dropped). */
  kvLocation(location: string): KvLocation {
    const raw = (location.startsWith('vault:') ? location.slice(6) : location).replace(/^\/+|\/+$/g, '');
    let mount: string | undefined;
    if (this.kvMounts === undefined) mount = raw.includes('/') ? raw.slice(0, raw.indexOf('/')) : undefined;
    else mount = this.kvMounts.find((m) => raw.startsWith(`${m}/`));
    const path = mount === undefined ? '' : raw.slice(mount.length + 1);
    if (mount === undefined || path.length === 0)
      throw new BackendError(
        'BACKEND_SPEC_INVALID',
        `"${raw}" is not <kv-mount>/<path>` +
          (this.kvMounts === undefined ? '' : ` under one of the KV mounts ${this.kvMounts.join(', ')}`),
      );
    const enc = (p: string) => p.split('/').map(encodeURIComponent).join('/');
    return {
      mount,
      path,
      dataPath: `${enc(mount)}/data/${enc(path)}`,
      metadataPath: `${enc(mount)}/metadata/${enc(path)}`,
      undeletePath: `${enc(mount)}/undelete/${enc(path)}`,
      name: `vault:${mount}/data/${path}`,
    };
  }

  private async kvRead(loc: KvLocation, version?: number): Promise<KvRead> {
    const query = version === undefined ? '' : `?version=${version}`;
    let res: Json;
    try {
      res = await this.request('read', 'GET', `${loc.dataPath}${query}`);
    } catch (err) {
      if (err instanceof BackendError && err.code === 'BACKEND_SECRET_NOT_FOUND' && version !== undefined)
        throw new BackendError(
          'BACKEND_VERSION_NOT_FOUND',
          `${loc.name} has no readable version ${version} (never written, deleted or destroyed)`,
          { path: loc.name, version },
        );
      throw err;
    }
    const outer = res?.data as
      | { data?: unknown; metadata?: { version?: unknown; created_time?: string } }
      | undefined;
    if (outer === undefined || outer === null || typeof outer !== 'object')
      throw new BackendError('BACKEND_RESPONSE_INVALID', `${SERVICE} read of ${loc.name} returned no data`);
    if (outer.data === null || typeof outer.data !== 'object')
      throw new BackendError(
        'BACKEND_VERSION_NOT_FOUND',
        `${loc.name}: the asked-for version was deleted or destroyed`,
        {
          path: loc.name,
        },
      );
    const data = outer.data as Json;
    const value: SecretValue = {};
    for (const [k, v] of Object.entries(data)) value[k] = typeof v === 'string' ? v : JSON.stringify(v);
    const v = outer.metadata?.version;
    const read: KvRead = { data, value, version: typeof v === 'number' ? v : (version ?? 0) };
    const created = parseTime(outer.metadata?.created_time);
    if (created !== undefined) read.createdAt = created;
    return read;
  }

  /** Write a new version, check-and-set on `cas`; returns the new version number. */
  private async kvWrite(loc: KvLocation, data: Json, cas: number, secrets: string[]): Promise<number> {
    const res = await this.request('write', 'POST', loc.dataPath, { options: { cas }, data }, secrets);
    const version = (res?.data as { version?: unknown } | undefined)?.version;
    if (typeof version !== 'number')
      throw new BackendError(
        'BACKEND_RESPONSE_INVALID',
        `${SERVICE} write of ${loc.name} returned no version`,
      );
    return version;
  }

  private async kvMetadata(loc: KvLocation): Promise<KvMetadata> {
    const res = await this.request('read metadata', 'GET', loc.metadataPath);
    const d = res?.data as Partial<KvMetadata> | undefined;
    if (d === undefined || d === null || typeof d.current_version !== 'number')
      throw new BackendError(
        'BACKEND_RESPONSE_INVALID',
        `${SERVICE} metadata of ${loc.name} has no current_version`,
      );
    return {
      current_version: d.current_version,
      custom_metadata: d.custom_metadata ?? null,
      versions: d.versions ?? {},
    };
  }

  /** Set (`from` given) or clear the rotation marker, keeping other custom metadata. */
  private async setMarker(loc: KvLocation, meta: KvMetadata, from: number | undefined): Promise<void> {
    const custom: Record<string, string> = { ...(meta.custom_metadata ?? {}) };
    delete custom[ROTATION_MARKER_FROM];
    delete custom[ROTATION_MARKER_STARTED];
    if (from !== undefined) {
      custom[ROTATION_MARKER_FROM] = String(from);
      custom[ROTATION_MARKER_STARTED] = this.clock().toISOString();
    } else if (meta.custom_metadata === null || !(ROTATION_MARKER_FROM in meta.custom_metadata)) {
      return;
    }
    await this.request('write metadata', 'POST', loc.metadataPath, { custom_metadata: custom });
  }

  // ------------------------------------------------------------ transport

  /**
   * One Vault call. Every string of the body and the broker's token are redacted from
   * any error text; the raw client error (which holds headers and body) is dropped.
   */
  private async request(
    operation: string,
    method: Method,
    path: string,
    body?: Json,
    secrets: string[] = [],
  ) {
    const options: nodeVault.RequestOption = { path: `/${path}`, method, timeout: this.timeout };
    if (body !== undefined) options.json = body;
    try {
      return await this.client.request(options);
    } catch (err) {
      throw mapVaultError(err, operation, path.split('?')[0] as string, [
        this.token,
        ...secrets,
        ...collectStrings(body),
      ]);
    }
  }
}

interface VaultHttpError {
  response?: { statusCode?: number; body?: unknown };
  isAxiosError?: boolean;
}

/** Map a node-vault/axios failure to a BackendError; `secrets` never appear in the message. */
export function mapVaultError(
  err: unknown,
  operation: string,
  path: string,
  secrets: string[],
): BackendError {
  if (err instanceof BackendError) return err;
  const e = (err ?? {}) as VaultHttpError;
  const status = e.response?.statusCode;
  const where = `${SERVICE} ${operation} ${path}`;
  if (typeof status !== 'number') {
    const net = networkErrorCode(err);
    if (net !== undefined || e.isAxiosError === true)
      return new BackendError(
        'BACKEND_UNAVAILABLE',
        `${where}: Vault could not be reached (${net ?? 'no response'}); retry when it is back`,
        { operation, path, network: net ?? 'no-response' },
      );
    return new BackendError(
      'BACKEND_ERROR',
      `${where}: ${redactSecrets(String((err as Error)?.message ?? err), secrets)}`,
      {
        operation,
        path,
      },
    );
  }
  const errors = (e.response?.body as { errors?: unknown } | undefined)?.errors;
  const said =
    Array.isArray(errors) && errors.length > 0 ? redactSecrets(errors.map(String).join('; '), secrets) : '';
  const details = { operation, path, httpStatus: status };
  let code: BackendErrorCode;
  let hint: string;
  if (status === 400 && /check-and-set/i.test(said)) {
    code = 'BACKEND_CONFLICT';
    hint = 'someone else wrote a newer version first; read it and retry';
  } else if (status === 400 || status === 405) {
    code = 'BACKEND_REQUEST_REJECTED';
    hint = 'Vault refused the request';
  } else if (status === 401 || status === 403) {
    code = 'BACKEND_DENIED';
    hint = "the broker's Vault token lacks a policy for this path, or it expired";
  } else if (status === 404) {
    code = 'BACKEND_SECRET_NOT_FOUND';
    hint = 'nothing at this path (or the mount is missing)';
  } else if (status === 503 && /sealed/i.test(said)) {
    code = 'BACKEND_UNAVAILABLE';
    hint = 'Vault is sealed; it answers again once unsealed';
  } else if (status === 412 || status === 429 || status >= 500) {
    code = 'BACKEND_UNAVAILABLE';
    hint = 'retry later';
  } else {
    code = 'BACKEND_ERROR';
    hint = 'unexpected answer';
  }
  return new BackendError(code, `${where}: ${status}${said ? ` ${said}` : ''} (${hint})`, details);
}

function notFound(loc: KvLocation): BackendError {
  return new BackendError('BACKEND_SECRET_NOT_FOUND', `${loc.name} has no versions`, { path: loc.name });
}

function parseVersion(version: string): number {
  const n = Number(version);
  if (!Number.isInteger(n) || n < 1)
    throw new BackendError(
      'BACKEND_SPEC_INVALID',
      `a KV v2 version is a whole number >= 1, got "${version}"`,
    );
  return n;
}

function parseTime(text: string | undefined): Date | undefined {
  if (text === undefined || text === '') return undefined;
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function isDeleted(info: KvVersionMeta): boolean {
  return typeof info.deletion_time === 'string' && info.deletion_time !== '';
}

/** The newest live version below the current one. */
function previousLive(meta: KvMetadata): number | undefined {
  return Object.entries(meta.versions)
    .filter(([v, info]) => Number(v) < meta.current_version && info.destroyed !== true && !isDeleted(info))
    .map(([v]) => Number(v))
    .sort((a, b) => b - a)[0];
}

function pendingOf(meta: KvMetadata): PendingRotation | null {
  const marker = meta.custom_metadata?.[ROTATION_MARKER_FROM];
  if (marker === undefined) return null;
  const from = Number(marker);
  const started = parseTime(meta.custom_metadata?.[ROTATION_MARKER_STARTED]);
  const pending: PendingRotation =
    Number.isInteger(from) && meta.current_version > from
      ? { stage: 'promoted', fromVersion: marker, pendingVersion: String(meta.current_version) }
      : { stage: 'marked', fromVersion: marker };
  if (started !== undefined) pending.startedAt = started;
  return pending;
}

function pendingError(loc: KvLocation, pending: PendingRotation, differentValue = false): BackendError {
  return new BackendError(
    'BACKEND_ROTATION_PENDING',
    `${loc.name}: an interrupted rotation from version ${pending.fromVersion} is pending (${pending.stage})` +
      (differentValue ? ' and wrote a different value than asked for' : '') +
      '; finish or undo it first (finishRotation / undoRotation)',
    {
      path: loc.name,
      stage: pending.stage,
      fromVersion: pending.fromVersion,
      pendingVersion: pending.pendingVersion,
    },
  );
}

function toStatic(loc: KvLocation, read: KvRead): StaticSecret {
  const out: StaticSecret = {
    value: read.value,
    version: String(read.version),
    reference: `${loc.name}#v${read.version}`,
  };
  if (read.createdAt !== undefined) out.createdAt = read.createdAt;
  return out;
}

/** The current data with the generated fields replaced; untouched fields keep their JSON types. */
function mergeChanged(current: KvRead, next: SecretValue): Json {
  const out: Json = { ...current.data };
  for (const [k, v] of Object.entries(next)) if (current.value[k] !== v) out[k] = v;
  return out;
}

function sameValue(a: SecretValue, b: SecretValue): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
