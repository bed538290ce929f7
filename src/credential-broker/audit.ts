/**
 * One audit record per decision (allow, deny, error), written to the store and to
 * pino (stdout, JSON). The store write happens before the answer leaves the broker;
 * when it fails the request fails (AUDIT_UNAVAILABLE). A record names what was issued
 * by reference (an ARN + version, a Vault path or lease, an HMAC of the value), never
 * by value; the logger additionally redacts every field that could hold a secret.
 */
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { randomBytesPooled } from './backends/random.js';
import type { BrokerAuditTable, DecisionOutcome } from './schema.js';

export type AuditAction = 'issue' | 'list' | 'revoke' | 'exchange' | 'expire';

/** An RFC 8693 actor as recorded: who, whether its token verified; never the token. */
export interface AuditActor {
  sub?: string;
  verified: boolean;
  /** `jwt-svid` when it verified as one; otherwise the token type given. */
  type: string;
  issuer?: string;
}

export interface AuditRecord {
  id: string;
  at: string;
  /** The broker process that decided. */
  instance: string;
  requestId?: string;
  action: AuditAction;
  decision: DecisionOutcome;
  code: string;
  reason: string;
  status: number;
  spiffeId?: string;
  /** A Linkerd DNS identity the SPIFFE ID was mapped from. */
  presentedIdentity?: string;
  authMethod?: string;
  issuerKind?: string;
  issuerFingerprint?: string;
  credential?: string;
  policyVersion?: string;
  policyRule?: string;
  leaseId?: string;
  /** Non-secret name of what was issued (ARN#version, vault path, HMAC). */
  reference?: string;
  ttlSeconds?: number;
  purpose?: string;
  actor?: AuditActor;
  clientAddress?: string;
}

/**
 * Time-ordered ids (milliseconds, then randomness): new rows land at the end of the
 * primary-key index instead of at random pages, which keeps inserts cheap under load.
 */
export function timeOrderedId(prefix: string): string {
  const random = randomBytesPooled(10).toString('hex');
  return `${prefix}${Date.now().toString(16).padStart(12, '0')}${random}`;
}

export function newAuditId(): string {
  return timeOrderedId('aud_');
}

export function auditFromRow(row: BrokerAuditTable): AuditRecord {
  const out: AuditRecord = {
    id: row.id,
    at: row.at,
    instance: row.instance,
    action: row.action as AuditAction,
    decision: row.decision,
    code: row.code,
    reason: row.reason,
    status: Number(row.status),
  };
  const opt = <K extends keyof AuditRecord>(k: K, v: AuditRecord[K] | null) => {
    if (v !== null && v !== undefined) out[k] = v;
  };
  opt('requestId', row.request_id);
  opt('spiffeId', row.spiffe_id);
  opt('presentedIdentity', row.presented_identity);
  opt('authMethod', row.auth_method);
  opt('issuerKind', row.issuer_kind);
  opt('issuerFingerprint', row.issuer_fingerprint);
  opt('credential', row.credential);
  opt('policyVersion', row.policy_version);
  opt('policyRule', row.policy_rule);
  opt('leaseId', row.lease_id);
  opt('reference', row.reference);
  opt('ttlSeconds', row.ttl_seconds === null ? null : Number(row.ttl_seconds));
  opt('purpose', row.purpose);
  opt('actor', row.actor === null ? null : (JSON.parse(row.actor) as AuditActor));
  opt('clientAddress', row.client_address);
  return out;
}

/**
 * Fields that can carry a secret anywhere in a log line: issued secrets, tokens in
 * request bodies and headers. Applied to every logger the broker creates.
 */
export const REDACT_PATHS: readonly string[] = [
  'secret',
  '*.secret',
  '*.*.secret',
  'password',
  '*.password',
  'token',
  '*.token',
  'access_token',
  '*.access_token',
  'subject_token',
  '*.subject_token',
  'actor_token',
  '*.actor_token',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'request.headers.authorization',
  'body',
  '*.body',
];

let isoMs = Number.NaN;
let isoText = '';

/** pino's `isoTime`, formatted once per millisecond: under load many lines share one. */
export function isoTime(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = `,"time":"${new Date(ms).toISOString()}"`;
  }
  return isoText;
}

export interface BrokerLoggerOptions {
  level?: string;
  /** Where lines go (default stdout, asynchronously). Tests pass a stream to read every line back. */
  destination?: DestinationStream;
  base?: Record<string, unknown>;
}

/** pino with the broker's redaction; JSON lines on stdout by default. */
export function createBrokerLogger(opts: BrokerLoggerOptions = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    base: { component: 'meshbridge-broker', ...opts.base },
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    timestamp: isoTime,
  };
  // stdout written asynchronously: under load sonic-boom coalesces the lines queued behind a
  // write in flight instead of a write(2) per line, and flushes what is left on exit. The
  // store, not stdout, is the durable audit.
  return pino(options, opts.destination ?? pino.destination({ dest: 1, sync: false }));
}

/**
 * The logger for decision lines: `logger` without path redaction. An AuditRecord is an
 * allowlist of fields, none of which holds a secret (what was issued is named by
 * reference), so no redaction path can match inside one; skipping the matching halves
 * the cost of the line. A test greps every line of a full run for each issued secret.
 */
export function auditLogger(logger: Logger): Logger {
  return logger.child({}, { redact: [] });
}

/** Writes the decision line to an {@link auditLogger}; the caller has already stored the record. */
export function logAudit(logger: Logger, record: AuditRecord): void {
  const level = record.decision === 'error' ? 'warn' : 'info';
  logger[level]({ audit: record }, `broker ${record.action} ${record.decision}: ${record.code}`);
}
