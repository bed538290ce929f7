/**
 * Reads a bundle back from any file meshbridge emits (and the shapes the meshes
 * themselves use): PEM / DER, a SPIFFE bundle, a bundle map, and Kubernetes YAML or
 * JSON — the `cacerts` Secret (`root-cert.pem`), the `istio-ca-root-cert` and
 * `linkerd-identity-trust-roots` ConfigMaps, a trust-manager `Bundle` (`inLine`
 * sources), Linkerd Helm values (`identityTrustAnchorsPEM`) and istiod mesh config
 * (`meshConfig.caCertificates` with `trustDomains`). The dry run verifies against
 * exactly what a data plane would load from the file.
 */
import { parseAllDocuments } from 'yaml';
import { loadBundle } from '../spiffe/bundle/load.js';
import { parseBundleMap } from '../spiffe/bundle/set.js';
import { SpiffeError, type Warning } from '../spiffe/errors.js';
import { TrustDomain } from '../spiffe/spiffeid/index.js';
import { type Certificate, parseCertificates } from '../spiffe/x509/certificate.js';
import { inputError } from './errors.js';
import { type TrustSet, trustSet } from './trust.js';

export type ArtifactKind =
  | 'pem'
  | 'der'
  | 'spiffe'
  | 'bundle-map'
  | 'istio-cacerts'
  | 'istio-root-configmap'
  | 'istio-mesh-config'
  | 'linkerd-trust-roots'
  | 'linkerd-values'
  | 'trust-manager'
  | 'kubernetes';

export interface ReadArtifact {
  kinds: ArtifactKind[];
  trust: TrustSet;
  /** How many certificates each place held, e.g. `secret/istio-system/cacerts[root-cert.pem]`. */
  places: { where: string; kind: ArtifactKind; trustDomains: string[] | null; fingerprints: string[] }[];
  warnings: Warning[];
}

export interface ReadArtifactOptions {
  /** The trust domain a lone SPIFFE bundle or PEM file belongs to (R64); without it the roots are pooled. */
  trustDomain?: string;
}

const UNNAMED = 'unnamed.invalid';

export function readBundleArtifact(input: Uint8Array | string, opts: ReadArtifactOptions = {}): ReadArtifact {
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
  const head = text.trimStart();
  const bytes = typeof input === 'string' ? Buffer.from(input) : input;
  const isDer = typeof input !== 'string' && input.length > 0 && input[0] === 0x30;
  if (isDer || head === '' || head.startsWith('-----BEGIN')) return fromLoaded(bytes, opts);
  if (head.startsWith('{')) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return fromLoaded(bytes, opts); // the kernel's reader names the JSON error
    }
    if (isObject(doc) && (Array.isArray(doc.keys) || isObject(doc.trust_domains)))
      return fromLoaded(bytes, opts);
    return fromDocuments([doc], opts);
  }
  let docs: unknown[];
  try {
    docs = parseAllDocuments(text).map((d) => {
      if (d.errors.length > 0) throw d.errors[0];
      return d.toJS({ maxAliasCount: 100 });
    });
  } catch (err) {
    throw inputError('BUNDLE_ARTIFACT_UNRECOGNIZED', `not PEM, JSON or YAML: ${(err as Error).message}`);
  }
  return fromDocuments(docs, opts);
}

function fromLoaded(bytes: Uint8Array, opts: ReadArtifactOptions): ReadArtifact {
  const text = Buffer.from(bytes).toString('utf8').trimStart();
  if (text.startsWith('{')) {
    const map = tryBundleMap(bytes);
    if (map !== undefined) return map;
  }
  const loaded = loadBundle(bytes, { trustDomain: opts.trustDomain ?? UNNAMED });
  const certs = [...loaded.bundle.x509Authorities];
  const kind: ArtifactKind = loaded.format === 'der' ? 'der' : loaded.format === 'pem' ? 'pem' : 'spiffe';
  const place = {
    where: 'file',
    kind,
    trustDomains: opts.trustDomain === undefined ? null : [TrustDomain.parse(opts.trustDomain).name],
    fingerprints: certs.map((c) => c.fingerprint),
  };
  const trust =
    opts.trustDomain === undefined
      ? trustSet(new Map(), certs)
      : trustSet(new Map([[TrustDomain.parse(opts.trustDomain).name, certs]]));
  return { kinds: [kind], trust, places: [place], warnings: loaded.warnings };
}

function tryBundleMap(bytes: Uint8Array): ReadArtifact | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isObject(doc) || Array.isArray(doc.keys) || !isObject(doc.trust_domains)) return undefined;
  const parsed = parseBundleMap(bytes);
  const per = new Map<string, Certificate[]>();
  const places: ReadArtifact['places'] = [];
  for (const b of parsed.set.all()) {
    per.set(b.trustDomain.name, [...b.x509Authorities]);
    places.push({
      where: `trust_domains.${b.trustDomain.name}`,
      kind: 'bundle-map',
      trustDomains: [b.trustDomain.name],
      fingerprints: b.x509Authorities.map((c) => c.fingerprint),
    });
  }
  return { kinds: ['bundle-map'], trust: trustSet(per), places, warnings: parsed.warnings };
}

function fromDocuments(docs: unknown[], _opts: ReadArtifactOptions): ReadArtifact {
  const pooled: Certificate[] = [];
  const per = new Map<string, Certificate[]>();
  const places: ReadArtifact['places'] = [];
  const kinds = new Set<ArtifactKind>();
  const add = (
    where: string,
    kind: ArtifactKind,
    pem: string | Uint8Array,
    trustDomains: string[] | null,
  ) => {
    const certs = parseCertificates(pem);
    kinds.add(kind);
    places.push({ where, kind, trustDomains, fingerprints: certs.map((c) => c.fingerprint) });
    if (trustDomains === null || trustDomains.length === 0) pooled.push(...certs);
    else {
      for (const td of trustDomains) {
        const name = TrustDomain.parse(td).name;
        per.set(name, [...(per.get(name) ?? []), ...certs]);
      }
    }
  };
  docs.forEach((doc, i) => {
    if (!isObject(doc)) return;
    const kind = typeof doc.kind === 'string' ? doc.kind : undefined;
    const meta = isObject(doc.metadata) ? doc.metadata : {};
    const ref = `${(kind ?? 'document').toLowerCase()}/${typeof meta.namespace === 'string' ? `${meta.namespace}/` : ''}${typeof meta.name === 'string' ? meta.name : `#${i + 1}`}`;
    if (kind === 'List' && Array.isArray(doc.items)) {
      const inner = fromDocuments(doc.items, _opts);
      for (const p of inner.places) places.push(p);
      for (const k of inner.kinds) kinds.add(k);
      pooled.push(...inner.trust.pooled);
      for (const [td, certs] of inner.trust.perTrustDomain) per.set(td, [...(per.get(td) ?? []), ...certs]);
      return;
    }
    if (kind === 'Secret') {
      const values = secretValues(doc, ref);
      for (const key of ['root-cert.pem', 'ca.crt', 'ca-bundle.crt']) {
        const v = values.get(key);
        if (v !== undefined)
          add(`${ref}[${key}]`, meta.name === 'cacerts' ? 'istio-cacerts' : 'kubernetes', v, null);
      }
      return;
    }
    if (kind === 'ConfigMap') {
      const data = isObject(doc.data) ? doc.data : {};
      for (const [key, v] of Object.entries(data)) {
        if (typeof v !== 'string' || !v.includes('-----BEGIN CERTIFICATE-----')) continue;
        const k: ArtifactKind =
          key === 'root-cert.pem'
            ? 'istio-root-configmap'
            : key === 'ca-bundle.crt'
              ? 'linkerd-trust-roots'
              : 'kubernetes';
        add(`${ref}[${key}]`, k, v, null);
      }
      return;
    }
    if (kind === 'Bundle' && isObject(doc.spec) && Array.isArray(doc.spec.sources)) {
      doc.spec.sources.forEach((s, j) => {
        if (isObject(s) && typeof s.inLine === 'string')
          add(`${ref}.spec.sources[${j}].inLine`, 'trust-manager', s.inLine, null);
      });
      return;
    }
    const values = kind === 'IstioOperator' && isObject(doc.spec) ? doc.spec : doc;
    const anchors =
      typeof values.identityTrustAnchorsPEM === 'string'
        ? values.identityTrustAnchorsPEM
        : isObject(values.global) && typeof values.global.identityTrustAnchorsPEM === 'string'
          ? values.global.identityTrustAnchorsPEM
          : undefined;
    if (anchors !== undefined) add(`${ref}.identityTrustAnchorsPEM`, 'linkerd-values', anchors, null);
    const mesh = isObject(values.meshConfig) ? values.meshConfig : undefined;
    if (mesh !== undefined && Array.isArray(mesh.caCertificates)) {
      mesh.caCertificates.forEach((entry, j) => {
        if (!isObject(entry) || typeof entry.pem !== 'string') return;
        const tds = Array.isArray(entry.trustDomains)
          ? entry.trustDomains.filter((t): t is string => typeof t === 'string')
          : null;
        add(`${ref}.meshConfig.caCertificates[${j}]`, 'istio-mesh-config', entry.pem, tds);
      });
    }
  });
  if (places.length === 0) {
    throw inputError(
      'BUNDLE_ARTIFACT_UNRECOGNIZED',
      'the file holds no trust bundle meshbridge reads (PEM, SPIFFE bundle, cacerts Secret, root ConfigMap, trust-manager Bundle, Linkerd values or meshConfig.caCertificates)',
    );
  }
  return { kinds: [...kinds], trust: trustSet(per, dedupe(pooled)), places, warnings: [] };
}

function secretValues(doc: Record<string, unknown>, ref: string): Map<string, Uint8Array | string> {
  const out = new Map<string, Uint8Array | string>();
  if (isObject(doc.data)) {
    for (const [k, v] of Object.entries(doc.data)) {
      if (typeof v !== 'string') continue;
      if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(v)) {
        throw new SpiffeError('BUNDLE_ARTIFACT_UNRECOGNIZED', 'input', `${ref}[${k}] is not base64`);
      }
      out.set(k, Buffer.from(v, 'base64'));
    }
  }
  if (isObject(doc.stringData)) {
    for (const [k, v] of Object.entries(doc.stringData)) if (typeof v === 'string') out.set(k, v);
  }
  return out;
}

function dedupe(certs: Certificate[]): Certificate[] {
  const seen = new Set<string>();
  return certs.filter((c) => !seen.has(c.fingerprint) && seen.add(c.fingerprint) !== undefined);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
