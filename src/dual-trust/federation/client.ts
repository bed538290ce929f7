/**
 * Fetches a federated trust domain's bundle from its SPIFFE bundle endpoint and checks
 * what it gets before anyone trusts it (SPIFFE_Federation.md §5, rules R107-R124):
 *
 * - R113/R115: the relationship is explicit — URL, profile and trust-domain name;
 * - R114/R119: `https` only, no userinfo, redirects re-checked and re-validated;
 * - R120 `https_web`: the server certificate validates against the locally trusted CAs
 *   and names the URL's host (RFC 6125, node's checks);
 * - R121/R123 `https_spiffe`: the server presents an X.509-SVID that the kernel
 *   verifies against `bundleSource` and whose ID equals `endpointSpiffeId`; R124: when
 *   the endpoint serves its own trust domain, the fetched bundle must verify that SVID;
 * - R118: UTF-8 JSON; the kernel's SPIFFE bundle reader refuses broken documents
 *   (`BUNDLE_JSON_INVALID`, `BUNDLE_X5C_INVALID`, `BUNDLE_X5C_KEY_MISMATCH`, ...);
 * - R110/R64: an X.509 authority naming another trust domain (`spiffe://other`) is
 *   refused (`FEDERATION_TRUST_DOMAIN_MISMATCH`): bundles are never mixed;
 * - R57/R109: against the bundle held so far, a smaller `spiffe_sequence` is refused
 *   (`FEDERATION_SEQUENCE_REGRESSED`), and so is changed content under the same number
 *   (`FEDERATION_SEQUENCE_REUSED`): a changed certificate must come with a new number.
 */

import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { X509BundleSource } from '../../spiffe/bundle/source.js';
import { SpiffeBundle } from '../../spiffe/bundle/spiffebundle.js';
import { type Clock, SpiffeError, systemClock, type Warning } from '../../spiffe/errors.js';
import { SpiffeId, TrustDomain } from '../../spiffe/spiffeid/index.js';
import { verifyX509Svid } from '../../spiffe/svid/x509svid/index.js';
import { type Certificate, parseCertificate } from '../../spiffe/x509/certificate.js';
import { DualTrustError, inputError, verdictError } from '../errors.js';

export type EndpointProfile = 'https_web' | 'https_spiffe';

export interface FetchFederatedBundleOptions {
  profile: EndpointProfile;
  /** The trust domain whose bundle this endpoint serves (never inferred from the URL, R113). */
  trustDomain: string;
  /** `https_spiffe`: the SPIFFE ID the endpoint server must present (R121, R123). */
  endpointSpiffeId?: string;
  /**
   * `https_spiffe`: trust for the endpoint server's trust domain — the operator's
   * bootstrap bundle for a self-serving endpoint, later the last fetched one (R124).
   */
  bundleSource?: X509BundleSource;
  /** `https_web`: locally trusted CA certificates (PEM); default: the system's. */
  ca?: string | Buffer | (string | Buffer)[];
  /** The bundle held so far: the sequence may not go backwards, nor content change under the same number. */
  previous?: SpiffeBundle;
  clock?: Clock;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** Largest accepted body (default 1 MiB). */
  maxBytes?: number;
  /** Temporary redirects followed (default 3, R119). */
  maxRedirects?: number;
  /** Refuse documents a lenient reader only warns about (several certificates per x5c, ...). */
  strict?: boolean;
}

export interface FetchedBundle {
  bundle: SpiffeBundle;
  warnings: Warning[];
  /** The URL that answered (after redirects; never persist it, R119). */
  url: string;
  etag: string | undefined;
  /** `https_spiffe`: the endpoint's verified SPIFFE ID. */
  endpointSpiffeId: string | undefined;
}

export async function fetchFederatedBundle(
  url: string,
  opts: FetchFederatedBundleOptions,
): Promise<FetchedBundle> {
  const td = TrustDomain.parse(opts.trustDomain);
  if (opts.profile !== 'https_web' && opts.profile !== 'https_spiffe') {
    throw inputError(
      'FEDERATION_PROFILE_INVALID',
      `profile must be https_web or https_spiffe, got "${String(opts.profile)}"`,
      {
        rule: 111,
      },
    );
  }
  let endpointId: SpiffeId | undefined;
  if (opts.profile === 'https_spiffe') {
    if (opts.endpointSpiffeId === undefined || opts.bundleSource === undefined) {
      throw inputError(
        'FEDERATION_PROFILE_INVALID',
        'https_spiffe needs the endpoint SPIFFE ID and a bundle for its trust domain (R121)',
        { rule: 121 },
      );
    }
    endpointId = SpiffeId.parse(opts.endpointSpiffeId);
  }
  const maxRedirects = opts.maxRedirects ?? 3;
  let current = checkUrl(url, 114);
  for (let hop = 0; ; hop++) {
    const res = await get(current, opts, endpointId);
    if (res.status >= 300 && res.status < 400 && res.location !== undefined) {
      if (hop >= maxRedirects) {
        throw verdictError('FEDERATION_REDIRECT_INVALID', `more than ${maxRedirects} redirects from ${url}`, {
          rule: 119,
        });
      }
      current = checkUrl(new URL(res.location, current).toString(), 119);
      continue;
    }
    if (res.status !== 200) {
      throw new DualTrustError(
        'FEDERATION_HTTP_STATUS',
        res.status >= 500 ? 'unavailable' : 'verdict',
        `bundle endpoint ${current} answered HTTP ${res.status}`,
        { details: { status: res.status } },
      );
    }
    const checked = checkBody(res.body, td, opts, res.peer, endpointId);
    return {
      ...checked,
      url: current,
      etag: res.etag,
      endpointSpiffeId: endpointId?.toString(),
    };
  }
}

function checkUrl(text: string, rule: number): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw inputError('FEDERATION_URL_INVALID', `"${text}" is not a URL`, { rule });
  }
  if (u.protocol !== 'https:') {
    throw inputError(
      rule === 119 ? 'FEDERATION_REDIRECT_INVALID' : 'FEDERATION_URL_INVALID',
      `bundle endpoint URLs use https, got ${u.protocol}//${u.host}`,
      { rule },
    );
  }
  if (u.username !== '' || u.password !== '') {
    throw inputError(
      rule === 119 ? 'FEDERATION_REDIRECT_INVALID' : 'FEDERATION_URL_INVALID',
      'bundle endpoint URLs carry no user information',
      { rule },
    );
  }
  return u.toString();
}

interface RawResponse {
  status: number;
  location: string | undefined;
  etag: string | undefined;
  body: Buffer;
  /** `https_spiffe`: the verified peer chain. */
  peer: Certificate[] | undefined;
}

function get(
  url: string,
  opts: FetchFederatedBundleOptions,
  endpointId: SpiffeId | undefined,
): Promise<RawResponse> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const maxBytes = opts.maxBytes ?? 1024 * 1024;
  const spiffe = opts.profile === 'https_spiffe';
  return new Promise<RawResponse>((resolve, reject) => {
    let settled = false;
    let peer: Certificate[] | undefined;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(err);
    };
    const req = httpsRequest(
      {
        protocol: 'https:',
        hostname: host,
        port: u.port === '' ? 443 : Number(u.port),
        path: `${u.pathname}${u.search}`,
        method: 'GET',
        agent: false,
        headers: { accept: 'application/json', 'user-agent': 'meshbridge-federation' },
        minVersion: 'TLSv1.2',
        ...(isIP(host) ? {} : { servername: host }),
        // https_web: node validates chain and host name (R120). https_spiffe: the kernel does (R123).
        rejectUnauthorized: !spiffe,
        ...(!spiffe && opts.ca !== undefined ? { ca: opts.ca } : {}),
        timeout: opts.timeoutMs ?? 10_000,
      },
      (res: IncomingMessage) => {
        if (spiffe && peer === undefined) {
          fail(
            verdictError(
              'FEDERATION_TLS_REJECTED',
              'the endpoint SVID was not verified before the response',
              { rule: 123 },
            ),
          );
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            fail(
              verdictError(
                'FEDERATION_RESPONSE_TOO_LARGE',
                `the bundle endpoint sent more than ${maxBytes} bytes`,
              ),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => fail(unreachable(url, err)));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          const location = res.headers.location;
          resolve({
            status: res.statusCode ?? 0,
            location: typeof location === 'string' ? location : undefined,
            etag: typeof res.headers.etag === 'string' ? res.headers.etag : undefined,
            body: Buffer.concat(chunks),
            peer,
          });
        });
      },
    );
    req.on('socket', (socket) => {
      if (!spiffe) return;
      (socket as TLSSocket).once('secureConnect', () => {
        try {
          peer = verifyEndpointSvid(socket as TLSSocket, endpointId!, opts);
        } catch (err) {
          fail(err as Error);
        }
      });
    });
    req.on('timeout', () => fail(unreachable(url, new Error('timed out'))));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      if (err instanceof SpiffeError || err instanceof DualTrustError) return fail(err);
      const tlsCodes = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|HOSTNAME|ALTNAME|SSL/;
      if (typeof err.code === 'string' && tlsCodes.test(err.code)) {
        return fail(
          verdictError(
            'FEDERATION_TLS_REJECTED',
            `TLS: the bundle endpoint ${url} is not trusted: ${err.message}`,
            {
              rule: 120,
              cause: err,
            },
          ),
        );
      }
      fail(unreachable(url, err));
    });
    req.end();
  });
}

function unreachable(url: string, err: Error): DualTrustError {
  return new DualTrustError('FEDERATION_UNREACHABLE', 'unavailable', `cannot fetch ${url}: ${err.message}`, {
    cause: err,
  });
}

/** R123: the peer's chain verifies as an X.509-SVID against `bundleSource` and carries the configured ID. */
function verifyEndpointSvid(
  socket: TLSSocket,
  expected: SpiffeId,
  opts: FetchFederatedBundleOptions,
): Certificate[] {
  const chain: Certificate[] = [];
  let c = socket.getPeerCertificate(true) as { raw?: Buffer; issuerCertificate?: unknown } | undefined;
  const seen = new Set<unknown>();
  while (c?.raw !== undefined && !seen.has(c)) {
    seen.add(c);
    chain.push(parseCertificate(c.raw));
    c = c.issuerCertificate as typeof c;
  }
  if (chain.length === 0) {
    throw verdictError('FEDERATION_TLS_REJECTED', 'the bundle endpoint presented no certificate', {
      rule: 122,
    });
  }
  let id: SpiffeId;
  try {
    id = verifyX509Svid(chain, opts.bundleSource!, opts.clock ? { clock: opts.clock } : {}).id;
  } catch (err) {
    const e = err as SpiffeError;
    throw verdictError(
      'FEDERATION_TLS_REJECTED',
      `the bundle endpoint's certificate is not a valid X.509-SVID: ${e.message} [${e.code}]`,
      { rule: 123, cause: err, details: { kernelCode: e.code } },
    );
  }
  if (id.toString() !== expected.toString()) {
    throw verdictError(
      'FEDERATION_ENDPOINT_ID_MISMATCH',
      `the bundle endpoint presented ${id} where ${expected} was configured`,
      { rule: 123, details: { presented: id.toString(), expected: expected.toString() } },
    );
  }
  return chain;
}

function checkBody(
  body: Buffer,
  td: TrustDomain,
  opts: FetchFederatedBundleOptions,
  peer: Certificate[] | undefined,
  endpointId: SpiffeId | undefined,
): { bundle: SpiffeBundle; warnings: Warning[] } {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw verdictError(
      'FEDERATION_RESPONSE_NOT_UTF8',
      'the bundle endpoint answered bytes that are not UTF-8',
      { rule: 118 },
    );
  }
  let parsed: ReturnType<typeof SpiffeBundle.parse>;
  try {
    parsed = SpiffeBundle.parse(td, body, { strict: opts.strict === true });
  } catch (err) {
    if (!(err instanceof SpiffeError)) throw err;
    // A document the endpoint served is refused (a verdict on the response), not a usage error.
    throw new DualTrustError(err.code, 'verdict', `the bundle endpoint's answer is refused: ${err.message}`, {
      ...(err.rule === undefined ? {} : { rule: err.rule }),
      cause: err,
    });
  }
  const { bundle, warnings } = parsed;
  const now = (opts.clock ?? systemClock)().getTime();
  for (const a of bundle.x509Authorities) {
    for (const uri of a.subjectAltName?.uris ?? []) {
      if (!uri.toLowerCase().startsWith('spiffe://')) continue;
      let other: string | undefined;
      try {
        other = SpiffeId.parse(uri).trustDomain.name;
      } catch {
        other = undefined;
      }
      if (other !== undefined && other !== td.name) {
        throw verdictError(
          'FEDERATION_TRUST_DOMAIN_MISMATCH',
          `the bundle fetched for ${td.name} holds an authority of ${other} (${uri}); bundles of different trust domains are never mixed`,
          { rule: 110, details: { expected: td.name, found: other, fingerprint: a.fingerprint } },
        );
      }
    }
    if (a.basicConstraints?.ca !== true) {
      throw verdictError(
        'FEDERATION_AUTHORITY_INVALID',
        `X.509 authority "${a.subject || '<empty subject>'}" of ${td.name} is not a CA certificate`,
        { rule: 27, details: { fingerprint: a.fingerprint } },
      );
    }
    if (now > a.notAfter.getTime()) {
      warnings.push({
        code: 'FEDERATION_AUTHORITY_EXPIRED',
        rule: 34,
        message: `X.509 authority "${a.subject}" of ${td.name} expired at ${a.notAfter.toISOString()}`,
      });
    }
  }
  const prev = opts.previous;
  if (prev !== undefined && prev.sequenceNumber !== undefined && bundle.sequenceNumber !== undefined) {
    if (bundle.sequenceNumber < prev.sequenceNumber) {
      throw verdictError(
        'FEDERATION_SEQUENCE_REGRESSED',
        `spiffe_sequence went backwards for ${td.name}: ${bundle.sequenceNumber} after ${prev.sequenceNumber}`,
        {
          rule: 57,
          details: { previous: prev.sequenceNumber.toString(), received: bundle.sequenceNumber.toString() },
        },
      );
    }
    if (bundle.sequenceNumber === prev.sequenceNumber && !sameContent(bundle, prev)) {
      throw verdictError(
        'FEDERATION_SEQUENCE_REUSED',
        `the bundle of ${td.name} changed but kept spiffe_sequence ${bundle.sequenceNumber}; a changed bundle must carry a new number`,
        { rule: 57, details: { sequence: bundle.sequenceNumber.toString() } },
      );
    }
  }
  if (peer !== undefined && endpointId?.trustDomain.equals(td)) {
    try {
      verifyX509Svid(peer, bundle, opts.clock ? { clock: opts.clock } : {});
    } catch (err) {
      throw verdictError(
        'FEDERATION_BUNDLE_INCONSISTENT',
        `the bundle served for ${td.name} does not verify the endpoint's own SVID: ${(err as Error).message}`,
        { rule: 124, cause: err },
      );
    }
  }
  return { bundle, warnings };
}

function sameContent(a: SpiffeBundle, b: SpiffeBundle): boolean {
  const x = a.clone();
  const y = b.clone();
  x.sequenceNumber = undefined;
  y.sequenceNumber = undefined;
  x.refreshHint = undefined;
  y.refreshHint = undefined;
  return x.equals(y);
}
