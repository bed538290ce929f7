import { isIPv4, isIPv6 } from 'node:net';
import { SpiffeError } from '../errors.js';

/** Environment variable naming the Workload API endpoint (rule 74). */
export const SPIFFE_ENDPOINT_SOCKET = 'SPIFFE_ENDPOINT_SOCKET';

/** Why an endpoint address was rejected; carried in `details.reason`. */
export type AddressRejection =
  | 'empty'
  | 'control-character'
  | 'not-a-uri'
  | 'scheme'
  | 'opaque'
  | 'userinfo'
  | 'query'
  | 'fragment'
  | 'authority'
  | 'no-path'
  | 'path-not-absolute'
  | 'path-encoding'
  | 'path'
  | 'no-host'
  | 'host-not-ip'
  | 'no-port'
  | 'port-invalid';

/** A validated Workload API endpoint. `target` is what @grpc/grpc-js dials. */
export type EndpointAddress =
  | { readonly scheme: 'unix'; readonly path: string; readonly target: string }
  | {
      readonly scheme: 'tcp';
      readonly host: string;
      readonly port: number;
      readonly family: 4 | 6;
      readonly target: string;
    };

// RFC 3986 Appendix B: scheme, authority (when `//` is present), path, query, fragment.
const URI_PARTS = /^(?:([^:/?#]+):)?(\/\/([^/?#]*))?([^?#]*)(\?[^#]*)?(#.*)?$/;
const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*$/;
// Controls, space and DEL never occur in a URI (RFC 3986 §2).
const FORBIDDEN_CHAR = /[\u0000-\u0020\u007f]/;

function reject(address: string, reason: AddressRejection, message: string, rule: number): never {
  throw new SpiffeError(
    'WORKLOAD_API_ADDRESS_INVALID',
    'input',
    `workload endpoint address ${JSON.stringify(address)}: ${message}`,
    { rule, details: { reason, address } },
  );
}

/**
 * Parses a Workload API endpoint address (`SPIFFE_ENDPOINT_SOCKET` syntax, rules 75-77)
 * into a grpc-js target. Follows the spec where go-spiffe is lenient: `unix://foo` is
 * rejected (N9) because a `unix` URI has no authority.
 */
export function parseEndpointAddress(address: string): EndpointAddress {
  if (address.length === 0) reject(address, 'empty', 'address is empty', 75);
  if (FORBIDDEN_CHAR.test(address)) {
    reject(address, 'control-character', 'contains a control character or whitespace', 75);
  }
  const m = URI_PARTS.exec(address);
  if (m === null) reject(address, 'not-a-uri', 'not a URI', 75);
  const [, rawScheme, authorityPart, rawAuthority, rawPath = '', query, fragment] = m;
  if (rawScheme === undefined || !SCHEME.test(rawScheme)) {
    reject(address, 'scheme', 'must have a tcp:// or unix:// scheme', 75);
  }
  const scheme = rawScheme.toLowerCase();
  if (scheme !== 'unix' && scheme !== 'tcp') {
    reject(address, 'scheme', 'must have a tcp:// or unix:// scheme', 75);
  }
  const rule = scheme === 'unix' ? 76 : 77;
  if (authorityPart === undefined && rawPath !== '' && !rawPath.startsWith('/')) {
    reject(address, 'opaque', `a ${scheme} URI must not be opaque`, rule);
  }
  const authority = rawAuthority ?? '';
  if (authority.includes('@')) reject(address, 'userinfo', 'must not include user info', rule);
  if (query !== undefined) reject(address, 'query', 'must not include a query', rule);
  if (fragment !== undefined) reject(address, 'fragment', 'must not include a fragment', rule);

  if (scheme === 'unix') {
    if (authority !== '') {
      reject(
        address,
        'authority',
        'a unix URI has no authority; write the absolute socket path after three slashes (unix:///path)',
        76,
      );
    }
    if (rawPath === '') reject(address, 'no-path', 'must include the socket path', 76);
    if (!rawPath.startsWith('/')) reject(address, 'path-not-absolute', 'socket path must be absolute', 76);
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      reject(address, 'path-encoding', 'socket path has an invalid percent-encoding', 76);
    }
    if (path.includes('\u0000')) reject(address, 'path-encoding', 'socket path contains NUL', 76);
    return { scheme: 'unix', path, target: `unix://${path}` };
  }

  if (rawPath !== '') reject(address, 'path', 'must not include a path', 77);
  if (authority === '') reject(address, 'no-host', 'must include a host', 77);
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    host = close === -1 ? authority : authority.slice(1, close);
    const rest = close === -1 ? '' : authority.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':'))
      reject(address, 'host-not-ip', 'host must be an IP address', 77);
    portText = rest === '' ? undefined : rest.slice(1);
    if (close === -1 || !isIPv6(host) || host.includes('%')) {
      reject(address, 'host-not-ip', 'host must be an IP address', 77);
    }
  } else {
    const colon = authority.lastIndexOf(':');
    host = colon === -1 ? authority : authority.slice(0, colon);
    portText = colon === -1 ? undefined : authority.slice(colon + 1);
    if (host === '') reject(address, 'no-host', 'must include a host', 77);
    if (!isIPv4(host)) reject(address, 'host-not-ip', 'host must be an IP address, not a name', 77);
  }
  if (portText === undefined || portText === '') reject(address, 'no-port', 'must include a port', 77);
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    reject(address, 'port-invalid', 'port must be a number between 1 and 65535', 77);
  }
  const port = Number(portText);
  const family = isIPv4(host) ? 4 : 6;
  const target = family === 4 ? `ipv4:${host}:${port}` : `ipv6:[${host}]:${port}`;
  return { scheme: 'tcp', host, port, family, target };
}

/**
 * The address to dial: the explicit one if given, otherwise `SPIFFE_ENDPOINT_SOCKET`
 * (rule 74). Throws `WORKLOAD_API_ADDRESS_MISSING` when neither is set.
 */
export function resolveEndpointAddress(
  explicit?: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): EndpointAddress {
  const value = explicit ?? env[SPIFFE_ENDPOINT_SOCKET];
  if (value === undefined || value === '') {
    throw new SpiffeError(
      'WORKLOAD_API_ADDRESS_MISSING',
      'input',
      `no Workload API address configured and ${SPIFFE_ENDPOINT_SOCKET} is not set`,
      { rule: 74 },
    );
  }
  return parseEndpointAddress(value);
}
