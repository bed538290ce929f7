/**
 * ztunnel's certificate dump: the `certificates` array of its admin `/config_dump`
 * (`istioctl ztunnel-config certificate -o json` prints the same entries).
 *
 * Shape, from istio/ztunnel `src/admin.rs` (`CertsDump` / `CertDump`, serde camelCase):
 *   {"certificates": [{"identity": "spiffe://td/ns/x/sa/y", "state": "Available",
 *     "certChain": [{"pem": "<base64 of PEM>", "serialNumber": "...", "validFrom": "...",
 *                    "expirationTime": "..."}],
 *     "rootCerts": [{"pem": ...}]}]}
 * Older ztunnel releases wrote snake_case with `ca_cert` (the leaf) and `cert_chain`.
 * Assumed, not seen in a captured dump: a top-level JSON array of the same entries.
 * `certChain` is leaf first (structure decides roles); `rootCerts` are trust anchors.
 */
import { decodeBase64Strict, type ExtractionBuilder } from '../extraction.js';
import { isObj, type Obj, str, toSnake } from './values.js';

const CHAIN_KEYS = ['ca_cert', 'cert_chain'] as const;

function isEntry(v: unknown): v is Obj {
  return (
    isObj(v) &&
    typeof v.identity === 'string' &&
    (Array.isArray(v.cert_chain) || Array.isArray(v.root_certs) || Array.isArray(v.ca_cert))
  );
}

/** `root` already snake-cased. */
export function isZtunnelDump(root: unknown): boolean {
  const list = Array.isArray(root) ? root : isObj(root) ? root.certificates : undefined;
  return Array.isArray(list) && list.length > 0 && list.every(isEntry);
}

export function readZtunnelDump(b: ExtractionBuilder, raw: unknown): number {
  const root = toSnake(raw, b.file).value;
  const list = (Array.isArray(root) ? root : (root as Obj).certificates) as Obj[];
  const prefix = Array.isArray(root) ? '' : 'certificates';
  let n = 0;
  list.forEach((entry, i) => {
    const object = `${prefix}[${str(entry.identity) || i}]`;
    for (const key of [...CHAIN_KEYS, 'root_certs'] as const) {
      const certs = entry[key];
      if (!Array.isArray(certs)) continue;
      certs.forEach((c, j) => {
        const pem = isObj(c) ? str(c.pem) : undefined;
        if (pem === undefined) return;
        const source = b.source('ztunnel-cert-dump', 'istio', object, key);
        const where = `${source.locator}[${j}]`;
        // ztunnel base64-encodes the PEM text; accept plain PEM too.
        const value = pem.includes('-----BEGIN') ? pem : decodeBase64Strict(pem, where);
        n += b.material(source, value, { hint: key === 'root_certs' ? 'anchor' : 'none', required: true });
      });
    }
  });
  return n;
}
