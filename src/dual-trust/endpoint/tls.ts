/**
 * TLS for the bundle endpoint. Mozilla "intermediate" (R112): TLS 1.2 and 1.3, ECDHE
 * with AES-GCM / ChaCha20-Poly1305. Never a client certificate request (R117).
 * - `https_web`: a certificate naming the endpoint's DNS name or IP (R116);
 * - `https_spiffe`: the server's X.509-SVID (R122), re-read from its source on every
 *   handshake so a rotated SVID is served without a restart.
 */

import type { ServerOptions } from 'node:https';
import { createSecureContext, type SecureContext } from 'node:tls';
import { encodePem } from '../../spiffe/pem/pem.js';
import type { X509Svid } from '../../spiffe/svid/x509svid/index.js';

export const MOZILLA_INTERMEDIATE_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
].join(':');

/** `https.ServerOptions` for fastify's `https` option (or `https.createServer`). */
export type EndpointTlsOptions = ServerOptions & {
  minVersion: 'TLSv1.2';
  ciphers: string;
  requestCert: false;
  rejectUnauthorized: false;
};

/** `https_web`: a server certificate (chain PEM) and its key. */
export function httpsWebTls(certPem: string, keyPem: string): EndpointTlsOptions {
  return { ...base(), cert: certPem, key: keyPem };
}

/** `https_spiffe`: the SVID `current()` returns, fetched for every new connection. */
export function httpsSpiffeTls(current: () => X509Svid): EndpointTlsOptions {
  const contextOf = (svid: X509Svid) =>
    createSecureContext({
      ...base(),
      cert: svid.certificates.map((c) => encodePem('CERTIFICATE', c.der)).join(''),
      key: svid.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    });
  let last: { svid: X509Svid; ctx: SecureContext } | undefined;
  const ctxFor = () => {
    const svid = current();
    if (last === undefined || last.svid !== svid) last = { svid, ctx: contextOf(svid) };
    return last.ctx;
  };
  const first = current();
  return {
    ...base(),
    cert: first.certificates.map((c) => encodePem('CERTIFICATE', c.der)).join(''),
    key: first.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    SNICallback: (_name: string, cb: (err: Error | null, ctx?: SecureContext) => void) => {
      try {
        cb(null, ctxFor());
      } catch (err) {
        cb(err as Error);
      }
    },
  };
}

function base(): EndpointTlsOptions {
  return {
    minVersion: 'TLSv1.2',
    ciphers: MOZILLA_INTERMEDIATE_CIPHERS,
    honorCipherOrder: false,
    requestCert: false,
    rejectUnauthorized: false,
  };
}
