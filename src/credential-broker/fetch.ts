/**
 * The helper for legacy applications (`meshbridge fetch`): prove who you are with an
 * SVID (mTLS client certificate or JWT-SVID bearer), receive a short-lived secret,
 * write it atomically (temp file + rename, mode 0600), renew it before it expires and
 * run a command after each renewal, like spiffe-helper's `cmd`.
 *
 * The broker's own certificate is verified as an X.509-SVID by the SPIFFE kernel
 * against the caller's trust bundle (and, when given, against the broker's expected
 * SPIFFE ID) before a byte of the request is sent.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { X509BundleSource } from '../spiffe/bundle/source.js';
import { type Clock, CodedError, systemClock } from '../spiffe/errors.js';
import { type Matcher, matchAny, SpiffeId } from '../spiffe/spiffeid/index.js';
import { verifyX509Svid } from '../spiffe/svid/x509svid/index.js';
import { parseCertificate } from '../spiffe/x509/certificate.js';
import { peerChain } from './broker.js';
import { BrokerError, categoryOfStatus } from './errors.js';

export type SecretFormat = 'env' | 'json' | 'raw';

export type FetchAuth =
  /** mTLS with an X.509-SVID (leaf + chain PEM) and its key. */
  | { kind: 'x509'; certPem: string; keyPem: string }
  /** A JWT-SVID bearer token whose audience names the broker. */
  | { kind: 'jwt'; token: string };

export interface FetchOptions {
  /** `https://host:port` of the broker. */
  broker: string;
  credential: string;
  /** Requested lifetime (`5m`, 300); the policy may cap it. */
  ttl?: string | number;
  purpose?: string;
  /** Asked before every request, so rotated SVIDs are picked up. */
  auth: FetchAuth | (() => FetchAuth | Promise<FetchAuth>);
  /** Trust for the broker's serving certificate (asked before every request). */
  serverTrust: X509BundleSource | (() => X509BundleSource);
  /** The broker's expected SPIFFE ID (or a matcher); default: any ID the bundle vouches for. */
  brokerId?: SpiffeId | string | Matcher;
  clock?: Clock;
  timeoutMs?: number;
}

export interface FetchedCredential {
  name: string;
  leaseId: string;
  expiresAt: Date;
  ttlSeconds: number;
  secret: Record<string, string>;
  /** When the answer arrived (renewal is scheduled from here). */
  receivedAt: Date;
}

/** One request to `POST /v1/credentials/:name`. Failures: BrokerError with the broker's code. */
export async function fetchCredential(opts: FetchOptions): Promise<FetchedCredential> {
  const url = new URL(opts.broker);
  if (url.protocol !== 'https:')
    throw new BrokerError('FETCH_FAILED', `the broker URL must be https://, not ${url.protocol}`);
  const auth = typeof opts.auth === 'function' ? await opts.auth() : opts.auth;
  const trust = typeof opts.serverTrust === 'function' ? opts.serverTrust() : opts.serverTrust;
  const clock = opts.clock ?? systemClock;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 443);
  const socket = await connectVerified(
    host,
    port,
    auth,
    trust,
    matcherOf(opts.brokerId),
    clock,
    opts.timeoutMs ?? 15_000,
  );
  const body = JSON.stringify({
    ...(opts.ttl === undefined ? {} : { ttl: opts.ttl }),
    ...(opts.purpose === undefined ? {} : { purpose: opts.purpose }),
  });
  const path = `${url.pathname.replace(/\/$/, '')}/v1/credentials/${encodeURIComponent(opts.credential)}`;
  const { status, headers, text } = await new Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    text: string;
  }>((resolve, reject) => {
    const req = httpsRequest(
      {
        host,
        port,
        method: 'POST',
        path,
        // The already verified socket; no agent, so nothing is pooled or re-dialled.
        createConnection: () => socket,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          accept: 'application/json',
          ...(auth.kind === 'jwt' ? { authorization: `Bearer ${auth.token}` } : {}),
        },
        timeout: opts.timeoutMs ?? 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('the broker did not answer in time')));
    req.on('error', reject);
    req.end(body);
  }).catch((err: Error) => {
    socket.destroy();
    throw new BrokerError('FETCH_FAILED', `request to ${opts.broker} failed: ${err.message}`);
  });
  socket.destroy();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BrokerError('FETCH_FAILED', `the broker answered ${status} with a body that is not JSON`);
  }
  if (status !== 200) {
    const e = (json as { error?: { code?: unknown; message?: unknown } }).error;
    const retry = Number(headers['retry-after']);
    // The broker's code passes on as is; what it means here (and the CLI's exit status)
    // follows the HTTP status, since the code may be the kernel's or a backend's.
    throw new BrokerError(
      typeof e?.code === 'string' ? e.code : 'FETCH_FAILED',
      typeof e?.message === 'string' ? e.message : `the broker answered ${status}`,
      {
        status,
        category: categoryOfStatus(status),
        ...(Number.isFinite(retry) && retry > 0 ? { retryAfter: retry } : {}),
      },
    );
  }
  const r = json as {
    name: string;
    leaseId: string;
    expiresAt: string;
    ttlSeconds: number;
    secret: Record<string, string>;
  };
  return {
    name: r.name,
    leaseId: r.leaseId,
    expiresAt: new Date(r.expiresAt),
    ttlSeconds: r.ttlSeconds,
    secret: r.secret,
    receivedAt: clock(),
  };
}

function matcherOf(id: FetchOptions['brokerId']): Matcher {
  if (id === undefined) return matchAny;
  if (typeof id === 'function') return id;
  const text = id.toString();
  SpiffeId.parse(text);
  return (candidate) => candidate.toString() === text;
}

async function connectVerified(
  host: string,
  port: number,
  auth: FetchAuth,
  trust: X509BundleSource,
  expected: Matcher,
  clock: Clock,
  timeoutMs: number,
): Promise<TLSSocket> {
  return new Promise<TLSSocket>((resolve, reject) => {
    const socket = tlsConnect({
      host,
      port,
      ...(isIP(host) === 0 ? { servername: host } : {}),
      // The kernel verifies the broker's SVID below; OpenSSL's hostname rules do not apply to SPIFFE IDs.
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      ...(auth.kind === 'x509' ? { cert: auth.certPem, key: auth.keyPem } : {}),
    });
    const timer = setTimeout(
      () => socket.destroy(new Error(`TLS connection to ${host}:${port} timed out`)),
      timeoutMs,
    );
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      try {
        const v = verifyX509Svid(
          peerChain(socket).map((der) => parseCertificate(der)),
          trust,
          { clock },
        );
        if (!expected(v.id)) {
          throw new BrokerError(
            'FETCH_SERVER_UNTRUSTED',
            `the broker presented ${v.id}, which is not the expected broker ID`,
          );
        }
        resolve(socket);
      } catch (err) {
        socket.destroy();
        const code = err instanceof CodedError ? ` [${err.code}]` : '';
        reject(
          err instanceof BrokerError
            ? err
            : new BrokerError(
                'FETCH_SERVER_UNTRUSTED',
                `the broker's certificate does not verify as an X.509-SVID: ${(err as Error).message}${code}`,
              ),
        );
      }
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(
        new BrokerError('FETCH_FAILED', `cannot connect to the broker at ${host}:${port}: ${err.message}`),
      );
    });
  });
}

// ---------------------------------------------------------------- files

const SAFE_ENV_VALUE = /^[A-Za-z0-9_./:@+=,-]*$/;

/**
 * `env`: `NAME=value` lines (names upper-cased, other characters as `_`, values
 * single-quoted for a shell when needed); `json`: the fields as one object; `raw`:
 * the value of `field`, or of the only field.
 */
export function formatSecret(
  secret: Record<string, string>,
  format: SecretFormat,
  opts: { field?: string; prefix?: string } = {},
): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(secret, null, 2)}\n`;
    case 'raw': {
      const keys = Object.keys(secret);
      const field = opts.field ?? (keys.length === 1 ? keys[0] : undefined);
      if (field === undefined || secret[field] === undefined) {
        throw new BrokerError(
          'REQUEST_INVALID',
          `--format raw needs one field; this credential has ${keys.join(', ')}: choose one with --field`,
        );
      }
      return secret[field]!;
    }
    case 'env':
      return Object.entries(secret)
        .map(([k, v]) => {
          const name = `${opts.prefix ?? ''}${k}`.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
          const value = SAFE_ENV_VALUE.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
          return `${/^[0-9]/.test(name) ? `_${name}` : name}=${value}\n`;
        })
        .join('');
  }
}

/** Temp file in the same folder (0600), fsync, rename over `path`: a reader sees the old or the new file, whole. */
export function writeSecretFile(path: string, content: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o600);
    writeSync(fd, content);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw new BrokerError('FETCH_FAILED', `cannot write ${path}: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------- the loop

export interface FetchEvent {
  type: 'fetched' | 'written' | 'exec' | 'error' | 'scheduled';
  message: string;
  leaseId?: string;
  expiresAt?: Date;
  /** When the next renewal runs. */
  next?: Date;
  exitCode?: number | null;
  error?: Error;
}

export interface RunFetchOptions extends FetchOptions {
  out: string;
  format: SecretFormat;
  field?: string;
  /** Keep renewing until `signal` aborts. */
  watch?: boolean;
  /** Run with `/bin/sh -c` after every write (env: MESHBRIDGE_CREDENTIAL_FILE, _LEASE_ID, _EXPIRES_AT). */
  exec?: string;
  /** Renew after this share of the lifetime (default 2/3), and at least 5 s before expiry. */
  renewAfter?: number;
  signal?: AbortSignal;
  onEvent?: (e: FetchEvent) => void;
  /** Injected for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Fetch, write, run; with `watch`, again before every expiry until aborted. Returns the last credential. */
export async function runFetch(opts: RunFetchOptions): Promise<FetchedCredential | undefined> {
  const clock = opts.clock ?? systemClock;
  const sleep = opts.sleep ?? abortableSleep;
  const emit = opts.onEvent ?? (() => undefined);
  let last: FetchedCredential | undefined;
  let failures = 0;
  while (opts.signal?.aborted !== true) {
    let waitMs: number;
    try {
      const got = await fetchCredential(opts);
      emit({
        type: 'fetched',
        message: `leased ${got.name} until ${got.expiresAt.toISOString()}`,
        leaseId: got.leaseId,
        expiresAt: got.expiresAt,
      });
      writeSecretFile(
        opts.out,
        formatSecret(got.secret, opts.format, opts.field === undefined ? {} : { field: opts.field }),
      );
      emit({ type: 'written', message: `wrote ${opts.out}`, leaseId: got.leaseId, expiresAt: got.expiresAt });
      last = got;
      failures = 0;
      if (opts.exec !== undefined) {
        const exitCode = await runCommand(opts.exec, {
          MESHBRIDGE_CREDENTIAL_FILE: opts.out,
          MESHBRIDGE_LEASE_ID: got.leaseId,
          MESHBRIDGE_EXPIRES_AT: got.expiresAt.toISOString(),
        });
        emit({ type: 'exec', message: `ran ${opts.exec}: exit ${exitCode}`, exitCode });
      }
      if (opts.watch !== true) return got;
      waitMs = renewDelay(got, opts.renewAfter ?? 2 / 3, clock);
    } catch (err) {
      if (opts.watch !== true) throw err;
      failures++;
      const retryAfter =
        err instanceof BrokerError && err.retryAfter !== undefined ? err.retryAfter * 1000 : 0;
      waitMs = Math.max(retryAfter, Math.min(30_000, 1000 * 2 ** Math.min(failures - 1, 5)));
      emit({ type: 'error', message: (err as Error).message, error: err as Error });
    }
    emit({
      type: 'scheduled',
      message: `next fetch in ${Math.round(waitMs / 1000)}s`,
      next: new Date(clock().getTime() + waitMs),
    });
    await sleep(waitMs, opts.signal);
  }
  return last;
}

/** When to renew: after `share` of the lifetime, and at least 5 s (or a quarter of it) before expiry. */
export function renewDelay(c: FetchedCredential, share: number, clock: Clock): number {
  const lifetime = Math.max(0, c.expiresAt.getTime() - c.receivedAt.getTime());
  const margin = Math.min(5000, lifetime / 4);
  const at = Math.min(c.receivedAt.getTime() + lifetime * share, c.expiresAt.getTime() - margin);
  return Math.max(250, Math.floor(at - clock().getTime()));
}

function runCommand(command: string, env: Record<string, string>): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('error', () => resolve(null));
    child.on('exit', (code) => resolve(code));
  });
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
