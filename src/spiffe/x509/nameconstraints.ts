import type { Certificate, NameConstraints } from './certificate.js';

/**
 * RFC 5280 §4.2.1.10 name constraints over the SAN names of `cert` (URI by host,
 * dNSName, rfc822Name, iPAddress). Returns the first violating name, or undefined.
 * R28: URI constraints scope SPIFFE IDs by trust domain (the URI host).
 */
export function nameConstraintViolation(nc: NameConstraints, cert: Certificate): string | undefined {
  const san = cert.subjectAltName;
  if (san === undefined) return undefined;
  for (const uri of san.uris) {
    const host = uriHost(uri);
    if (
      !allowed(nc.permitted.uris, nc.excluded.uris, (c) => host !== undefined && hostMatches(c, host, true))
    ) {
      return `URI:${uri}`;
    }
  }
  for (const dns of san.dnsNames) {
    if (!allowed(nc.permitted.dnsNames, nc.excluded.dnsNames, (c) => hostMatches(c, dns, false)))
      return `DNS:${dns}`;
  }
  for (const email of san.emails) {
    if (!allowed(nc.permitted.emails, nc.excluded.emails, (c) => emailMatches(c, email)))
      return `email:${email}`;
  }
  for (const ip of san.ips) {
    if (!allowed(nc.permitted.ips, nc.excluded.ips, (c) => ipMatches(c, ip))) return `IP:${ip}`;
  }
  return undefined;
}

function allowed(
  permitted: readonly string[],
  excluded: readonly string[],
  match: (c: string) => boolean,
): boolean {
  if (excluded.some(match)) return false;
  return permitted.length === 0 || permitted.some(match);
}

function uriHost(uri: string): string | undefined {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(uri);
  if (m === null) return undefined;
  let host = m[1]!;
  const at = host.lastIndexOf('@');
  if (at !== -1) host = host.slice(at + 1);
  const colon = host.lastIndexOf(':');
  if (colon !== -1 && !host.endsWith(']')) host = host.slice(0, colon);
  return host === '' ? undefined : host.toLowerCase();
}

/**
 * `example.org` matches the host itself and (for DNS constraints) its subdomains;
 * `.example.org` matches subdomains only. URI constraints name a host exactly unless
 * they start with a dot (RFC 5280).
 */
function hostMatches(constraint: string, name: string, uriForm: boolean): boolean {
  const c = constraint.toLowerCase();
  const n = name.toLowerCase();
  if (c === '') return true;
  if (c.startsWith('.')) return n.endsWith(c) && n.length > c.length;
  if (n === c) return true;
  return !uriForm && n.endsWith(`.${c}`);
}

function emailMatches(constraint: string, email: string): boolean {
  const c = constraint.toLowerCase();
  const e = email.toLowerCase();
  if (c.includes('@')) return c === e;
  const host = e.slice(e.lastIndexOf('@') + 1);
  if (c.startsWith('.')) return host.endsWith(c);
  return host === c;
}

function ipMatches(cidr: string, ip: string): boolean {
  const [net, bitsText] = cidr.split('/');
  const a = ipBytes(net!);
  const b = ipBytes(ip);
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  let bits = Number(bitsText);
  for (let i = 0; i < a.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i]! & mask) !== (b[i]! & mask)) return false;
  }
  return true;
}

function ipBytes(text: string): number[] | undefined {
  if (text.includes('.')) {
    const parts = text.split('.').map(Number);
    return parts.length === 4 && parts.every((p) => p >= 0 && p <= 255) ? parts : undefined;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head === '' || head === undefined ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const words = [...h, ...Array<string>(fill).fill('0'), ...t].map((w) => Number.parseInt(w, 16));
  if (words.length !== 8 || words.some((w) => Number.isNaN(w))) return undefined;
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}
