/**
 * The broker's decisions, without HTTP: authenticate (mTLS X.509-SVID, Linkerd DNS
 * identity, JWT-SVID bearer), evaluate the policy, issue through a backend, lease,
 * audit. The fastify plugin (server.ts) is a thin face over this class.
 *
 * Order of an issuance: policy -> backend -> one transaction holding the lease, the
 * audit record and the sighting -> answer. A backend failure leases nothing; a store
 * failure after the backend issued revokes the credential downstream again and fails
 * the request, so nothing is ever handed out without its record.
 */
import { hash, randomUUID } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { type Clock, CodedError, systemClock } from '../spiffe/errors.js';
import { VerificationCache } from '../spiffe/svid/x509svid/index.js';
import type { Store } from '../store/index.js';
import {
  type AuditAction,
  type AuditActor,
  type AuditRecord,
  auditLogger,
  logAudit,
  newAuditId,
} from './audit.js';
import { authenticateJwt, authenticateX509, type Caller, type MeshIdentityMapper } from './auth/identity.js';
import type { TrustSource } from './auth/trust.js';
import type { CredentialBackend } from './backends/index.js';
import { BrokerError } from './errors.js';
import { LeaseManager, newLeaseId } from './leases.js';
import { evaluate, type Obtainable, obtainable } from './policy/evaluate.js';
import type { PolicyHolder } from './policy/holder.js';
import { RateLimiter, type RateLimitOptions } from './ratelimit.js';
import { BatchWriter, type SightingDelta, type Writer } from './writer.js';

export interface BrokerOptions {
  store: Store;
  policy: PolicyHolder;
  trust: TrustSource;
  backends: ReadonlyMap<string, CredentialBackend>;
  /** The audiences that name this broker (default: its serving SPIFFE ID); asked on every JWT. */
  audience: () => readonly string[];
  mapper?: MeshIdentityMapper;
  logger: Logger;
  clock?: Clock;
  /** This process's id in leases and audit records (default a random one). */
  instance?: string;
  rateLimit?: RateLimitOptions | false;
  /** Sent as Retry-After with 503 (default 5). */
  retryAfterSeconds?: number;
  strict?: boolean;
  claimTtlSeconds?: number;
  /**
   * Called after every recorded decision (metrics: requests by credential, decision and
   * code; backend latency). Must not throw; the record holds no secret.
   */
  onDecision?: (record: AuditRecord, timing: { backendMs?: number }) => void;
  /** Where leases and audit records are written (default: a BatchWriter on `store`). */
  writer?: Writer;
}

export interface RequestContext {
  requestId?: string;
  clientAddress?: string;
}

export interface IssueParams {
  credential: string;
  ttlSeconds?: number;
  purpose?: string;
  action?: Extract<AuditAction, 'issue' | 'exchange'>;
  actor?: AuditActor;
}

export interface IssueResult {
  name: string;
  leaseId: string;
  expiresAt: Date;
  ttlSeconds: number;
  /** Handed to the caller only: never logged, never stored. */
  secret: Record<string, string>;
  reference: string;
  policyVersion: string;
}

export interface BrokerHealth {
  ready: boolean;
  policyVersion: string;
  trustVersion: string;
  trustDomains: string[];
  backends: { name: string; kind: string; ok: boolean; status: string; message?: string }[];
  store: { ok: boolean; message?: string };
}

const JWT_CACHE_MAX = 10_000;

export class Broker {
  readonly store: Store;
  readonly policy: PolicyHolder;
  readonly trust: TrustSource;
  readonly backends: ReadonlyMap<string, CredentialBackend>;
  readonly leases: LeaseManager;
  readonly writer: Writer;
  readonly logger: Logger;
  private readonly auditLog: Logger;
  readonly instance: string;
  readonly clock: Clock;
  readonly retryAfterSeconds: number;
  private readonly limiter: RateLimiter | undefined;
  private readonly cache = new VerificationCache();
  private readonly peers = new WeakMap<
    TLSSocket,
    { trustVersion: string; caller?: Caller; error?: BrokerError }
  >();
  private readonly jwts = new Map<string, { trustVersion: string; audience: string; caller: Caller }>();

  constructor(private readonly o: BrokerOptions) {
    this.store = o.store;
    this.policy = o.policy;
    this.trust = o.trust;
    this.backends = o.backends;
    this.logger = o.logger;
    this.auditLog = auditLogger(o.logger);
    this.clock = o.clock ?? systemClock;
    this.instance = o.instance ?? `broker-${randomUUID().slice(0, 8)}`;
    this.retryAfterSeconds = o.retryAfterSeconds ?? 5;
    this.writer = o.writer ?? new BatchWriter(o.store);
    this.leases = new LeaseManager({
      store: o.store,
      writer: this.writer,
      backends: o.backends,
      logger: o.logger,
      instance: this.instance,
      clock: this.clock,
      ...(o.claimTtlSeconds === undefined ? {} : { claimSeconds: o.claimTtlSeconds }),
      ...(o.onDecision === undefined ? {} : { onRevoked: (r: AuditRecord) => this.decided(r) }),
    });
    this.limiter =
      o.rateLimit === false || o.rateLimit === undefined
        ? undefined
        : new RateLimiter(o.rateLimit, this.clock);
  }

  audience(): readonly string[] {
    return this.o.audience();
  }

  // ------------------------------------------------------------ authentication

  /** A presented chain (DER, leaf first or in any order). */
  authenticateChain(chain: readonly Uint8Array[]): Caller {
    return authenticateX509(chain, this.trust.current(), {
      clock: this.clock,
      cache: this.cache,
      strict: this.o.strict === true,
      ...(this.o.mapper === undefined ? {} : { mapper: this.o.mapper }),
    });
  }

  /**
   * The client certificate of a TLS connection, verified once per connection and
   * trust version (keep-alive requests reuse the verdict until the leaf expires).
   * Undefined when the client sent no certificate.
   */
  authenticateSocket(socket: TLSSocket): Caller | undefined {
    const trust = this.trust.current();
    const cached = this.peers.get(socket);
    if (cached !== undefined && cached.trustVersion === trust.version) {
      if (cached.error !== undefined) throw cached.error;
      if (cached.caller !== undefined && cached.caller.expiresAt.getTime() > this.clock().getTime())
        return cached.caller;
    }
    const chain = peerChain(socket);
    if (chain.length === 0) return undefined;
    try {
      const caller = this.authenticateChain(chain);
      this.peers.set(socket, { trustVersion: trust.version, caller });
      return caller;
    } catch (err) {
      const e =
        err instanceof BrokerError
          ? err
          : new BrokerError('UNAUTHENTICATED', (err as Error).message, { status: 401 });
      this.peers.set(socket, { trustVersion: trust.version, error: e });
      throw e;
    }
  }

  /** A JWT-SVID bearer token; verdicts are cached per token until it expires or trust changes. */
  authenticateBearer(token: string): Caller {
    const trust = this.trust.current();
    const audience = this.audience();
    const audKey = audience.join(' ');
    const key = hash('sha256', token, 'base64url');
    const hit = this.jwts.get(key);
    if (
      hit !== undefined &&
      hit.trustVersion === trust.version &&
      hit.audience === audKey &&
      hit.caller.expiresAt.getTime() > this.clock().getTime()
    ) {
      return hit.caller;
    }
    const caller = authenticateJwt(token, trust, { audience, clock: this.clock });
    if (this.jwts.size >= JWT_CACHE_MAX) this.jwts.delete(this.jwts.keys().next().value!);
    this.jwts.set(key, { trustVersion: trust.version, audience: audKey, caller });
    return caller;
  }

  /**
   * Verifies an RFC 8693 actor token for the record: a JWT-SVID that verifies against
   * the trust bundle (any audience of this broker) is `verified`; anything else is
   * recorded by its claimed subject only. The token itself is never kept.
   */
  describeActor(token: string, tokenType: string): AuditActor {
    try {
      const caller = authenticateJwt(token, this.trust.current(), {
        audience: this.audience(),
        clock: this.clock,
      });
      return { sub: caller.id.toString(), verified: true, type: 'jwt-svid', issuer: caller.issuer.kind };
    } catch {
      const claims = unverifiedClaims(token);
      return {
        ...(typeof claims?.sub === 'string' ? { sub: claims.sub.slice(0, 512) } : {}),
        ...(typeof claims?.iss === 'string' ? { issuer: claims.iss.slice(0, 512) } : {}),
        verified: false,
        type: tokenType,
      };
    }
  }

  /** Throws RATE_LIMITED (429) when `key` has used its budget. */
  checkRate(key: string): void {
    const v = this.limiter?.take(key);
    if (v !== undefined && !v.ok) {
      throw new BrokerError(
        'RATE_LIMITED',
        `too many requests from ${key}; retry in ${v.retryAfterSeconds}s`,
        {
          status: 429,
          retryAfter: v.retryAfterSeconds,
        },
      );
    }
  }

  /** Records a failed authentication as a deny decision, then rethrows it. */
  async refuseAuthentication(
    err: BrokerError,
    action: AuditAction,
    ctx: RequestContext,
    credential?: string,
  ): Promise<never> {
    await this.record({
      ...this.base(undefined, action, ctx),
      decision: 'deny',
      code: err.code,
      reason: err.message,
      status: err.status,
      ...(credential === undefined ? {} : { credential }),
    });
    throw err;
  }

  // ------------------------------------------------------------ decisions

  async issue(caller: Caller, p: IssueParams, ctx: RequestContext = {}): Promise<IssueResult> {
    const action = p.action ?? 'issue';
    const policy = this.policy.current();
    const now = this.clock();
    const base = this.base(caller, action, ctx);
    base.credential = p.credential;
    base.policyVersion = policy.version;
    if (p.purpose !== undefined) base.purpose = p.purpose;
    if (p.actor !== undefined) base.actor = p.actor;
    const d = evaluate(policy, {
      id: caller.id,
      issuer: caller.issuer.kind,
      credential: p.credential,
      ttlSeconds: p.ttlSeconds,
      purpose: p.purpose,
      at: now,
    });
    if (d.decision === 'deny') {
      await this.record(
        {
          ...base,
          decision: 'deny',
          code: d.code,
          reason: d.reason,
          status: d.status,
          ...(d.rule === undefined ? {} : { policyRule: d.rule }),
        },
        d.code === 'CREDENTIAL_NOT_FOUND' ? undefined : this.sighting(caller, p.credential, 'deny', base.at),
      );
      throw new BrokerError(d.code, d.reason, { status: d.status });
    }
    const credential = d.credential;
    const backend = this.backends.get(credential.backend);
    if (backend === undefined) {
      const reason = `credential "${credential.name}" names backend "${credential.backend}", which is not running`;
      await this.record({
        ...base,
        decision: 'error',
        code: 'BACKEND_NOT_CONFIGURED',
        reason,
        status: 500,
        policyRule: d.rule,
      });
      throw new BrokerError('BACKEND_NOT_CONFIGURED', reason, { status: 500 });
    }
    const leaseId = newLeaseId();
    let issued: Awaited<ReturnType<CredentialBackend['issue']>>;
    const started = performance.now();
    try {
      issued = await backend.issue({
        credential: credential.name,
        spec: credential.spec,
        subject: caller.id.toString(),
        ttlSeconds: d.ttlSeconds,
        leaseId,
      });
    } catch (err) {
      const coded = err instanceof CodedError ? err : undefined;
      const unavailable = coded?.category === 'unavailable';
      const status = unavailable ? 503 : 502;
      const code = coded?.code ?? 'BACKEND_ERROR';
      const reason = `backend "${backend.name}" could not issue "${credential.name}": ${(err as Error).message}`;
      await this.record(
        { ...base, decision: 'error', code, reason, status, policyRule: d.rule },
        undefined,
        performance.now() - started,
      );
      throw new BrokerError(code, reason, {
        status,
        ...(unavailable ? { retryAfter: this.retryAfterSeconds } : {}),
      });
    }
    const backendMs = performance.now() - started;
    const ceiling = now.getTime() + d.ttlSeconds * 1000;
    const expiresAt = new Date(Math.min(issued.expiresAt.getTime(), ceiling));
    // Backends count in whole seconds (a token's exp); report the TTL granted, not the fraction lost.
    const ttlSeconds = Math.max(
      0,
      Math.min(d.ttlSeconds, Math.ceil((expiresAt.getTime() - now.getTime()) / 1000)),
    );
    const audit = base;
    audit.decision = 'allow';
    audit.code = 'ALLOWED';
    audit.reason = d.reason;
    audit.status = 200;
    audit.policyRule = d.rule;
    audit.leaseId = leaseId;
    audit.reference = issued.reference;
    audit.ttlSeconds = ttlSeconds;
    try {
      await this.writer.write({
        leases: [
          {
            id: leaseId,
            spiffe_id: caller.id.toString(),
            auth_method: caller.method,
            issuer_kind: caller.issuer.kind,
            issuer_fingerprint: caller.issuer.fingerprint,
            credential: credential.name,
            backend: backend.name,
            backend_lease_id: issued.backendLeaseId ?? null,
            reference: issued.reference,
            policy_version: policy.version,
            purpose: p.purpose ?? null,
            issued_at: base.at,
            expires_at: expiresAt.toISOString(),
          },
        ],
        audits: [audit],
        sightings: [this.sighting(caller, credential.name, 'allow', base.at, leaseId)],
      });
    } catch (err) {
      // Nothing may be handed out without its lease and audit record: take it back.
      if (issued.backendLeaseId !== undefined) {
        await backend
          .revoke(issued.backendLeaseId)
          .catch((e: Error) =>
            this.logger.error(
              { leaseId, backend: backend.name, err: { message: e.message } },
              'could not revoke a credential whose lease was not recorded',
            ),
          );
      }
      throw this.auditUnavailable(
        audit,
        err,
        'audit/lease write failed; credential withdrawn and request failed',
      );
    }
    logAudit(this.auditLog, audit);
    this.decided(audit, backendMs);
    return {
      name: credential.name,
      leaseId,
      expiresAt,
      ttlSeconds,
      secret: issued.secret,
      reference: issued.reference,
      policyVersion: policy.version,
    };
  }

  /** What the caller may obtain (GET /v1/credentials); recorded as a `list` decision. */
  async list(
    caller: Caller,
    ctx: RequestContext = {},
  ): Promise<{ policyVersion: string; credentials: Obtainable[] }> {
    const policy = this.policy.current();
    const credentials = obtainable(policy, caller.id, caller.issuer.kind);
    await this.record({
      ...this.base(caller, 'list', ctx),
      decision: 'allow',
      code: 'LISTED',
      reason: `${credentials.length} credential(s) obtainable`,
      status: 200,
      policyVersion: policy.version,
    });
    return { policyVersion: policy.version, credentials };
  }

  /**
   * Ends a lease early (DELETE /v1/leases/:id). Only its holder may; a lease of
   * another identity answers 404, as one that does not exist.
   */
  async revoke(
    caller: Caller,
    leaseId: string,
    ctx: RequestContext = {},
  ): Promise<{ leaseId: string; revokedAt: Date; alreadyRevoked: boolean }> {
    const base = this.base(caller, 'revoke', ctx);
    const lease = await this.leases.get(leaseId).catch((err: Error) => {
      throw new BrokerError('AUDIT_UNAVAILABLE', `the lease store cannot be read: ${err.message}`, {
        status: 503,
        retryAfter: this.retryAfterSeconds,
      });
    });
    if (lease === undefined || lease.spiffeId !== caller.id.toString()) {
      const reason = `no lease ${leaseId} held by ${caller.id}`;
      await this.record({ ...base, decision: 'deny', code: 'LEASE_NOT_FOUND', reason, status: 404, leaseId });
      throw new BrokerError('LEASE_NOT_FOUND', reason, { status: 404 });
    }
    if (lease.revokedAt !== undefined) return { leaseId, revokedAt: lease.revokedAt, alreadyRevoked: true };
    const r = await this.leases.revoke(leaseId, 'requested', {
      ...(ctx.requestId === undefined ? {} : { requestId: ctx.requestId }),
      ...(ctx.clientAddress === undefined ? {} : { clientAddress: ctx.clientAddress }),
      ...(caller.presented === undefined ? {} : { presentedIdentity: caller.presented }),
    });
    switch (r.outcome) {
      case 'revoked':
      case 'already-revoked':
        return {
          leaseId,
          revokedAt: r.lease?.revokedAt ?? this.clock(),
          alreadyRevoked: r.outcome === 'already-revoked',
        };
      case 'not-found':
        throw new BrokerError('LEASE_NOT_FOUND', `no lease ${leaseId}`, { status: 404 });
      case 'busy':
        throw new BrokerError('LEASE_BUSY', `lease ${leaseId} is being revoked right now; retry shortly`, {
          status: 503,
          retryAfter: 1,
        });
      case 'failed': {
        const coded = r.error instanceof CodedError ? r.error : undefined;
        const reason = `lease ${leaseId} could not be revoked downstream: ${r.error?.message ?? 'failed'}`;
        await this.record({
          ...base,
          decision: 'error',
          code: coded?.code ?? 'BACKEND_UNAVAILABLE',
          reason,
          status: 503,
          leaseId,
          credential: lease.credential,
        }).catch(() => undefined);
        throw new BrokerError(coded?.code ?? 'BACKEND_UNAVAILABLE', reason, {
          status: 503,
          retryAfter: this.retryAfterSeconds,
        });
      }
    }
  }

  async health(): Promise<BrokerHealth> {
    const trust = this.trust.current();
    const backends = await Promise.all(
      [...this.backends.values()].map(async (b) => {
        const h = await b.health();
        return {
          name: b.name,
          kind: b.kind,
          ok: h.ok,
          status: h.status,
          ...(h.message === undefined ? {} : { message: h.message }),
        };
      }),
    );
    let store: BrokerHealth['store'] = { ok: true };
    try {
      await this.leases.counts();
    } catch (err) {
      store = { ok: false, message: (err as Error).message };
    }
    return {
      ready: store.ok && !trust.isEmpty(),
      policyVersion: this.policy.current().version,
      trustVersion: trust.version,
      trustDomains: trust.trustDomains(),
      backends,
      store,
    };
  }

  /** Waits for queued writes; stops the sweeper. The owner closes store and backends. */
  async close(): Promise<void> {
    await this.leases.stop();
    await this.writer.flush();
  }

  // ------------------------------------------------------------ records

  /** A fresh record (callers fill in the decision); built field by field, without spreads, on the hot path. */
  private base(caller: Caller | undefined, action: AuditAction, ctx: RequestContext): AuditRecord {
    const r: AuditRecord = {
      id: newAuditId(),
      at: this.clock().toISOString(),
      instance: this.instance,
      action,
      decision: 'deny',
      code: '',
      reason: '',
      status: 0,
    };
    if (ctx.requestId !== undefined) r.requestId = ctx.requestId;
    if (ctx.clientAddress !== undefined) r.clientAddress = ctx.clientAddress;
    if (caller !== undefined) {
      r.spiffeId = caller.id.toString();
      r.authMethod = caller.method;
      r.issuerKind = caller.issuer.kind;
      r.issuerFingerprint = caller.issuer.fingerprint;
      if (caller.presented !== undefined) r.presentedIdentity = caller.presented;
    }
    return r;
  }

  private sighting(
    caller: Caller,
    credential: string,
    decision: 'allow' | 'deny',
    at: string,
    leaseId?: string,
  ): SightingDelta {
    return {
      credential,
      spiffeId: caller.id.toString(),
      at,
      decision,
      issuerKind: caller.issuer.kind,
      leaseId,
    };
  }

  /** Stores then logs one decision; a store failure fails the request (503 AUDIT_UNAVAILABLE). */
  private async record(audit: AuditRecord, sighting?: SightingDelta, backendMs?: number): Promise<void> {
    try {
      await this.writer.write({
        audits: [audit],
        ...(sighting === undefined ? {} : { sightings: [sighting] }),
      });
    } catch (err) {
      throw this.auditUnavailable(audit, err, 'audit write failed; request failed');
    }
    logAudit(this.auditLog, audit);
    this.decided(audit, backendMs);
  }

  /** Logs the record that could not be stored, and the 503 the request fails with. */
  private auditUnavailable(audit: AuditRecord, err: unknown, logMessage: string): BrokerError {
    const message = (err as Error).message;
    this.logger.error({ audit, err: { message } }, logMessage);
    return new BrokerError('AUDIT_UNAVAILABLE', `the audit record could not be written: ${message}`, {
      status: 503,
      retryAfter: this.retryAfterSeconds,
    });
  }

  private decided(audit: AuditRecord, backendMs?: number): void {
    if (this.o.onDecision === undefined) return;
    try {
      this.o.onDecision(audit, backendMs === undefined ? {} : { backendMs });
    } catch {
      // metrics must never fail a request
    }
  }
}

/** The client's chain as presented: leaf first, then what it sent along (no duplicates). */
export function peerChain(socket: TLSSocket): Uint8Array[] {
  if (typeof socket.getPeerCertificate !== 'function') return [];
  const leaf = socket.getPeerCertificate(true);
  if (leaf === null || leaf === undefined || leaf.raw === undefined) return [];
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  let cur: (typeof leaf & { issuerCertificate?: typeof leaf }) | undefined = leaf;
  while (cur?.raw !== undefined && !seen.has(cur.fingerprint256)) {
    seen.add(cur.fingerprint256);
    out.push(new Uint8Array(cur.raw));
    cur = cur.issuerCertificate;
  }
  return out;
}

function unverifiedClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const v = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
