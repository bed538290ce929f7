/**
 * Kubernetes manifests as `kubectl get -o yaml|json` writes them: single objects,
 * `List`s, multi-document YAML; Secret `data` (base64) and `stringData` (plain).
 * The object decides the shape, by its type, name and keys, never the file name.
 */
import { decodeBase64Strict, type ExtractionBuilder, type RoleHint } from '../extraction.js';
import type { Mesh, SourceKind } from '../inventory.js';
import { readLinkerdValues } from './linkerd-values.js';
import { isObj, MAX_DEPTH, type Obj, pemStrings, str, tooDeep } from './values.js';
import { parseYamlDocuments } from './yaml.js';

export interface KubeContext {
  forcedMesh: Mesh | null;
  maxAliasCount: number;
}

export function isKubernetesObject(v: unknown): v is Obj {
  return isObj(v) && typeof v.kind === 'string' && typeof v.apiVersion === 'string';
}

/** Reads one object (or a List of them). Returns how many certificates it held. */
export function readKubernetesObject(
  b: ExtractionBuilder,
  obj: Obj,
  ctx: KubeContext,
  index: number,
  depth = 0,
): number {
  if (depth > 8) throw tooDeep(b.file);
  const kind = obj.kind as string;
  if ((kind === 'List' || kind.endsWith('List')) && Array.isArray(obj.items)) {
    let n = 0;
    obj.items.forEach((item, i) => {
      if (isObj(item))
        n += readKubernetesObject(
          b,
          { apiVersion: 'v1', ...item, kind: str(item.kind) ?? 'Unknown' },
          ctx,
          i,
          depth + 1,
        );
    });
    return n;
  }
  const ref = objectRef(obj, index);
  if (isClusterMaterial(obj, kind, ref)) return 0;
  switch (kind) {
    case 'Secret':
      return readSecret(b, obj, ref, ctx);
    case 'ConfigMap':
      return readConfigMap(b, obj, ref, ctx);
    default:
      return readOtherObject(b, obj, ref);
  }
}

/**
 * The Kubernetes cluster's own CA, present in every `kubectl get secrets,configmaps -A`
 * export: the `kube-root-ca.crt` ConfigMaps, service-account token Secrets and the API
 * server's client CAs. Not mesh trust; reading it would list the cluster CA as a mesh anchor.
 */
function isClusterMaterial(obj: Obj, kind: string, ref: ObjectRef): boolean {
  if (kind === 'ConfigMap') {
    return (
      ref.name === 'kube-root-ca.crt' ||
      (ref.name === 'extension-apiserver-authentication' && ref.namespace === 'kube-system')
    );
  }
  return kind === 'Secret' && obj.type === 'kubernetes.io/service-account-token';
}

interface ObjectRef {
  /** `secret/istio-system/cacerts` */
  object: string;
  name: string;
  namespace: string | undefined;
}

function objectRef(obj: Obj, index: number): ObjectRef {
  const meta = isObj(obj.metadata) ? obj.metadata : {};
  const name = str(meta.name) ?? `#${index + 1}`;
  const namespace = str(meta.namespace);
  const kind = (obj.kind as string).toLowerCase();
  return {
    object: namespace === undefined ? `${kind}/${name}` : `${kind}/${namespace}/${name}`,
    name,
    namespace,
  };
}

// ---------------------------------------------------------------- Secrets

interface KeyRule {
  hint: RoleHint;
  /** Only the first certificate of the value gets the hint; the rest are its chain. */
  firstOnly?: boolean;
  required?: boolean;
  /** This key is a private key for the first certificate of that key. */
  keyFor?: string;
  ignore?: boolean;
}

interface SecretShape {
  kind: SourceKind;
  mesh: Mesh | null;
  rules: Record<string, KeyRule>;
}

const ISTIO_CA_SECRET: SecretShape = {
  kind: 'istio-ca-secret',
  mesh: 'istio',
  rules: {
    'ca-cert.pem': { hint: 'anchor', required: true },
    'root-cert.pem': { hint: 'anchor', required: true },
    'cert-chain.pem': { hint: 'none', required: true },
    'ca-key.pem': { hint: 'none', keyFor: 'ca-cert.pem' },
    'key.pem': { hint: 'none', keyFor: 'cert-chain.pem' },
  },
};

const ISTIO_CACERTS: SecretShape = {
  kind: 'istio-cacerts',
  mesh: 'istio',
  rules: {
    'ca-cert.pem': { hint: 'issuer', firstOnly: true, required: true },
    'root-cert.pem': { hint: 'anchor', required: true },
    'cert-chain.pem': { hint: 'none', required: true },
    'ca-key.pem': { hint: 'none', keyFor: 'ca-cert.pem' },
    'ca-crl.pem': { hint: 'none', ignore: true },
    'istio-generated': { hint: 'none', ignore: true },
    // cert-manager style: istiod prefers tls.crt; the chain is tls.crt + ca.crt.
    'tls.crt': { hint: 'issuer', firstOnly: true, required: true },
    'tls.key': { hint: 'none', keyFor: 'tls.crt' },
    'ca.crt': { hint: 'anchor', required: true },
  },
};

const LINKERD_ISSUER: SecretShape = {
  kind: 'linkerd-identity-issuer',
  mesh: 'linkerd',
  rules: {
    'crt.pem': { hint: 'issuer', firstOnly: true, required: true },
    'key.pem': { hint: 'none', keyFor: 'crt.pem' },
    // kubernetes.io/tls scheme (cert-manager): ca.crt is the CA that issued the issuer.
    'tls.crt': { hint: 'issuer', firstOnly: true, required: true },
    'tls.key': { hint: 'none', keyFor: 'tls.crt' },
    'ca.crt': { hint: 'none', required: true },
  },
};

const KUBERNETES_TLS: SecretShape = {
  kind: 'kubernetes-tls-secret',
  mesh: null,
  rules: {
    'tls.crt': { hint: 'none', required: true },
    'tls.key': { hint: 'none', keyFor: 'tls.crt' },
    'ca.crt': { hint: 'none', required: true },
  },
};

const GENERIC_SECRET: SecretShape = { kind: 'kubernetes-secret', mesh: null, rules: {} };

function secretShape(
  type: string | undefined,
  name: string,
  keys: Set<string>,
  forced: Mesh | null,
): SecretShape {
  if (type === 'istio.io/ca-root' || name === 'istio-ca-secret') return ISTIO_CA_SECRET;
  if (name === 'cacerts') return ISTIO_CACERTS;
  if (name === 'linkerd-identity-issuer') return LINKERD_ISSUER;
  if (
    keys.has('ca-cert.pem') &&
    (keys.has('root-cert.pem') || keys.has('cert-chain.pem') || keys.has('ca-key.pem'))
  ) {
    return ISTIO_CACERTS;
  }
  if (keys.has('crt.pem') && keys.has('key.pem')) return LINKERD_ISSUER;
  if (type === 'kubernetes.io/tls' || keys.has('tls.crt')) {
    if (forced === 'linkerd') return LINKERD_ISSUER;
    if (forced === 'istio') return ISTIO_CACERTS;
    return KUBERNETES_TLS;
  }
  return GENERIC_SECRET;
}

function readSecret(b: ExtractionBuilder, obj: Obj, ref: ObjectRef, ctx: KubeContext): number {
  const values = new Map<string, Uint8Array | string>();
  if (isObj(obj.data)) {
    for (const [k, v] of Object.entries(obj.data)) {
      if (v === null || v === undefined) continue; // istiod writes nil values for unused keys
      if (typeof v !== 'string') continue;
      values.set(k, decodeBase64Strict(v, `${b.file}#${ref.object}[${k}]`));
    }
  }
  if (isObj(obj.stringData)) {
    for (const [k, v] of Object.entries(obj.stringData)) if (typeof v === 'string') values.set(k, v);
  }
  const shape = secretShape(str(obj.type), ref.name, new Set(values.keys()), ctx.forcedMesh);
  return readKeyedValues(b, shape, ref, values);
}

function readKeyedValues(
  b: ExtractionBuilder,
  shape: SecretShape,
  ref: ObjectRef,
  values: Map<string, Uint8Array | string>,
): number {
  let n = 0;
  // Certificates first, so a key knows which source its certificate came from.
  const ordered = [...values.entries()].sort(
    ([a], [c]) => Number(isKeyRule(shape, a)) - Number(isKeyRule(shape, c)),
  );
  for (const [key, value] of ordered) {
    const rule = shape.rules[key];
    if (rule?.ignore) continue;
    const source = b.source(shape.kind, shape.mesh, ref.object, key);
    if (rule?.keyFor !== undefined) {
      const paired = values.has(rule.keyFor)
        ? b.source(shape.kind, shape.mesh, ref.object, rule.keyFor).locator
        : undefined;
      b.material(source, value, paired === undefined ? {} : { pairedWith: paired });
      continue;
    }
    const hint = rule?.hint ?? 'none';
    if (rule?.firstOnly && hint !== 'none') {
      n += b.material(source, value, { hint, firstOnly: true, required: rule.required ?? false });
    } else {
      n += b.material(source, value, { hint, required: rule?.required ?? false });
    }
  }
  return n;
}

function isKeyRule(shape: SecretShape, key: string): boolean {
  return shape.rules[key]?.keyFor !== undefined;
}

// ---------------------------------------------------------------- ConfigMaps

const ISTIO_ROOT_CERT: SecretShape = {
  kind: 'istio-ca-root-cert',
  mesh: 'istio',
  rules: { 'root-cert.pem': { hint: 'anchor', required: true } },
};

const LINKERD_TRUST_ROOTS: SecretShape = {
  kind: 'linkerd-trust-roots',
  mesh: 'linkerd',
  rules: { 'ca-bundle.crt': { hint: 'anchor', required: true } },
};

const GENERIC_CONFIGMAP: SecretShape = { kind: 'kubernetes-configmap', mesh: null, rules: {} };

function readConfigMap(b: ExtractionBuilder, obj: Obj, ref: ObjectRef, ctx: KubeContext): number {
  const data = isObj(obj.data) ? obj.data : {};
  const values = new Map<string, Uint8Array | string>();
  for (const [k, v] of Object.entries(data)) if (typeof v === 'string') values.set(k, v);
  if (isObj(obj.binaryData)) {
    for (const [k, v] of Object.entries(obj.binaryData)) {
      if (typeof v === 'string') values.set(k, decodeBase64Strict(v, `${b.file}#${ref.object}[${k}]`));
    }
  }
  let n = 0;
  // linkerd-config holds the Helm values the control plane was installed with.
  const embedded = str(data.values);
  if (embedded !== undefined && /identityTrustAnchorsPEM/.test(embedded)) {
    const where = `${b.file}#${ref.object}[values]`;
    for (const doc of parseYamlDocuments(embedded, where, ctx.maxAliasCount)) {
      if (isObj(doc)) n += readLinkerdValues(b, doc, `${ref.object}[values]`);
    }
    values.delete('values');
  }
  let shape = GENERIC_CONFIGMAP;
  if (ref.name === 'istio-ca-root-cert' || values.has('root-cert.pem')) shape = ISTIO_ROOT_CERT;
  else if (ref.name === 'linkerd-identity-trust-roots' || values.has('ca-bundle.crt'))
    shape = LINKERD_TRUST_ROOTS;
  return n + readKeyedValues(b, shape, ref, values);
}

// ---------------------------------------------------------------- other objects

const ANCHOR_ENV = 'LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS';

/**
 * Workloads (Deployment, Pod, ...) and anything else: the Linkerd proxy's inline trust
 * anchors (`LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS`) are anchors; any other PEM string is
 * read with no role hint.
 */
function readOtherObject(b: ExtractionBuilder, obj: Obj, ref: ObjectRef): number {
  let n = 0;
  for (const found of pemStrings(obj, b.file)) {
    if (!found.text.includes('-----BEGIN')) continue;
    const env = anchorEnvAt(obj, found.path);
    if (env) {
      const source = b.source('linkerd-proxy-env', 'linkerd', ref.object, found.path.replace(/^\$\./, ''));
      n += b.material(source, found.text, { hint: 'anchor', required: true });
    } else {
      const source = b.source('kubernetes-object', null, ref.object, found.path.replace(/^\$\./, ''));
      n += b.material(source, found.text);
    }
  }
  return n;
}

/** True when the string at `$...env[i].value` belongs to the anchors env var. */
function anchorEnvAt(root: Obj, jsonPath: string): boolean {
  const m = /^(.*)\.value$/.exec(jsonPath);
  if (m === null) return false;
  const parent = resolvePath(root, m[1]!);
  return isObj(parent) && parent.name === ANCHOR_ENV;
}

function resolvePath(root: unknown, jsonPath: string): unknown {
  const parts = jsonPath.replace(/^\$/, '').match(/\.[A-Za-z_]\w*|\[\d+\]|\["(?:[^"\\]|\\.)*"\]/g) ?? [];
  let cur = root;
  for (const [i, p] of parts.entries()) {
    if (i > MAX_DEPTH) return undefined;
    if (p.startsWith('.')) cur = isObj(cur) ? cur[p.slice(1)] : undefined;
    else if (p.startsWith('["')) cur = isObj(cur) ? cur[JSON.parse(p.slice(1, -1)) as string] : undefined;
    else cur = Array.isArray(cur) ? cur[Number(p.slice(1, -1))] : undefined;
  }
  return cur;
}
