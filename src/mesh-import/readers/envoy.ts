/**
 * Envoy secrets as Istio's sidecars hold them.
 *
 * - Envoy admin `/config_dump` (snake_case protobuf JSON): `configs[]`, the entry whose
 *   `@type` is `...admin.v3.SecretsConfigDump` lists `static_secrets`,
 *   `dynamic_active_secrets` and `dynamic_warming_secrets`, each `{name, secret}`.
 * - `istioctl proxy-config secret <pod> -o json`: the SecretsConfigDump object alone,
 *   with protojson (camelCase) names (`dynamicActiveSecrets[].secret.tlsCertificate...`).
 *
 * In a secret: `tls_certificate.certificate_chain` (leaf first) with its `private_key`
 * (Istio redacts it to `[redacted]`), `validation_context.trusted_ca` (Istio's `ROOTCA`:
 * trust anchors), and SPIFFE validator blocks
 * (`validation_context.custom_validator_config.typed_config.trust_domains[].trust_bundle`,
 * one bundle per trust domain: anchors too). A data source is `inline_bytes` (base64),
 * `inline_string` (PEM text) or `filename` (a path inside the pod: not readable here).
 */
import { decodeBase64Strict, type ExtractionBuilder, type RoleHint } from '../extraction.js';
import type { SourceKind } from '../inventory.js';
import { isObj, type Obj, str, toSnake } from './values.js';

const SECRET_LISTS = ['static_secrets', 'dynamic_active_secrets', 'dynamic_warming_secrets'] as const;

/** Snake-cased root (see `toSnake`): a config dump or a bare SecretsConfigDump. */
export function isEnvoySecretsDump(root: Obj): boolean {
  if (Array.isArray(root.configs)) {
    return root.configs.some((c) => isObj(c) && /SecretsConfigDump$/.test(str(c['@type']) ?? ''));
  }
  return SECRET_LISTS.some((k) => Array.isArray(root[k]));
}

export function readEnvoyDump(b: ExtractionBuilder, raw: unknown): number {
  const { value, camel } = toSnake(raw, b.file);
  const root = value as Obj;
  let n = 0;
  if (Array.isArray(root.configs)) {
    b.shape = 'envoy-config-dump';
    root.configs.forEach((c, i) => {
      if (isObj(c) && /SecretsConfigDump$/.test(str(c['@type']) ?? '')) {
        n += readSecretsDump(b, c, `configs[${i}].`, 'envoy-config-dump');
      }
    });
  } else {
    const kind: SourceKind = camel ? 'istioctl-secret-dump' : 'envoy-config-dump';
    b.shape = kind;
    n += readSecretsDump(b, root, '', kind);
  }
  return n;
}

function readSecretsDump(b: ExtractionBuilder, dump: Obj, prefix: string, kind: SourceKind): number {
  let n = 0;
  for (const list of SECRET_LISTS) {
    const entries = dump[list];
    if (!Array.isArray(entries)) continue;
    entries.forEach((entry, i) => {
      if (!isObj(entry)) return;
      const secret = isObj(entry.secret) ? entry.secret : entry;
      const name = str(entry.name) ?? str(secret.name) ?? String(i);
      n += readSecret(b, secret, `${prefix}${list}[${name}]`, kind);
    });
  }
  return n;
}

function readSecret(b: ExtractionBuilder, secret: Obj, object: string, kind: SourceKind): number {
  let n = 0;
  const tls = secret.tls_certificate;
  if (isObj(tls)) {
    const chain = dataSource(b, tls.certificate_chain, object, 'tls_certificate.certificate_chain');
    let chainLocator: string | undefined;
    if (chain !== undefined) {
      const source = b.source(kind, 'istio', object, 'tls_certificate.certificate_chain');
      chainLocator = source.locator;
      n += b.material(source, chain, { hint: 'none', required: true });
    }
    const key = dataSource(b, tls.private_key, object, 'tls_certificate.private_key');
    if (key !== undefined && looksLikePemKey(key)) {
      const source = b.source(kind, 'istio', object, 'tls_certificate.private_key');
      b.material(source, key, chainLocator === undefined ? {} : { pairedWith: chainLocator });
    }
  }
  const vc = secret.validation_context;
  if (isObj(vc)) {
    n += anchors(b, vc.trusted_ca, object, 'validation_context.trusted_ca', kind, 'anchor');
    const typed = isObj(vc.custom_validator_config) ? vc.custom_validator_config.typed_config : undefined;
    if (isObj(typed) && Array.isArray(typed.trust_domains)) {
      typed.trust_domains.forEach((td, i) => {
        if (!isObj(td)) return;
        const name = str(td.name) ?? String(i);
        n += anchors(
          b,
          td.trust_bundle,
          object,
          `validation_context.custom_validator_config.trust_domains[${name}]`,
          kind,
          'anchor',
        );
      });
    }
  }
  return n;
}

function anchors(
  b: ExtractionBuilder,
  ds: unknown,
  object: string,
  key: string,
  kind: SourceKind,
  hint: RoleHint,
): number {
  const data = dataSource(b, ds, object, key);
  if (data === undefined) return 0;
  return b.material(b.source(kind, 'istio', object, key), data, { hint, required: true });
}

function dataSource(
  b: ExtractionBuilder,
  ds: unknown,
  object: string,
  key: string,
): Uint8Array | string | undefined {
  if (!isObj(ds)) return undefined;
  const inlineBytes = str(ds.inline_bytes);
  if (inlineBytes !== undefined) return decodeBase64Strict(inlineBytes, `${b.file}#${object}[${key}]`);
  return str(ds.inline_string);
}

function looksLikePemKey(v: Uint8Array | string): boolean {
  const text = typeof v === 'string' ? v : Buffer.from(v).toString('latin1');
  return /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);
}
