/**
 * Shape detection: one file's bytes in, one `Extraction` out. The content decides the
 * shape, never the file name:
 *
 * 1. DER (a binary SEQUENCE): certificates and private keys, concatenated.
 * 2. Text starting with `{` or `[`: JSON -> Envoy config dump / istioctl secret dump /
 *    ztunnel certificate dump / Kubernetes object or List / Linkerd Helm values.
 * 3. Text with a `-----BEGIN` line at column 0: PEM (certificates and private keys).
 * 4. Text with a mapping key at column 0: YAML, one or many documents, each read as in 2.
 * 5. Anything else is not a source: an error for a file named on the command line,
 *    skipped (and counted) in a folder walk.
 */
import { ImportError } from './errors.js';
import { type Extraction, ExtractionBuilder, isDer } from './extraction.js';
import type { Mesh } from './inventory.js';
import { isEnvoySecretsDump, readEnvoyDump } from './readers/envoy.js';
import { isKubernetesObject, readKubernetesObject } from './readers/kubernetes.js';
import { isLinkerdValues, readLinkerdValues } from './readers/linkerd-values.js';
import { isObj, pemStrings, toSnake } from './readers/values.js';
import { DEFAULT_MAX_ALIAS_COUNT, parseYamlDocuments } from './readers/yaml.js';
import { isZtunnelDump, readZtunnelDump } from './readers/ztunnel.js';

export interface ReadOptions {
  /** `--mesh`: every source is taken as this mesh's, and ambiguous shapes are read as its. */
  mesh?: Mesh | null;
  /** YAML alias cap (default 100). */
  maxAliasCount?: number;
}

export interface ContentOptions extends ReadOptions {
  /** Named on the command line (unrecognised content is an error) rather than met in a folder walk. */
  explicit?: boolean;
}

const PEM_AT_COLUMN_0 = /^-----BEGIN [^\n]*-----[ \t]*\r?$/m;
const YAML_KEY_AT_COLUMN_0 = /^(?:[A-Za-z_][\w.\-/]*|"[^"\n]+"|'[^'\n]+')[ \t]*:(?:[ \t]|\r?$)/m;
/** Content worth an error rather than a skip when it does not parse. */
const RELEVANT =
  /-----BEGIN|LS0tLS1CRUdJTi|^(?:apiVersion|kind)[ \t]*:|"apiVersion"|inline_bytes|inlineBytes|identityTrustAnchorsPEM/m;

/** Reads one file's content. `file` is the name shown in locators. */
export function readContent(content: Uint8Array, file: string, opts: ContentOptions = {}): Extraction {
  const forced = opts.mesh ?? null;
  const b = new ExtractionBuilder(file, 'unknown', forced);
  if (isDer(content)) {
    b.shape = 'der';
    b.material(b.source('der-file', null), content);
    return b.extraction;
  }
  const text = decodeText(content);
  if (text === undefined) return unrecognized(b, opts, 'it is binary and not DER');
  const start = text.trimStart();
  if (start.startsWith('{') || start.startsWith('[')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      if (!opts.explicit && !RELEVANT.test(text)) return skipped(b);
      throw new ImportError('INPUT_JSON_MALFORMED', `${file} is not valid JSON: ${(err as Error).message}`, {
        details: { source: file },
        cause: err,
      });
    }
    b.shape = 'json';
    if (!readDocument(b, value, 0, opts))
      return unrecognized(b, opts, 'it is JSON of no shape meshbridge reads');
    return b.extraction;
  }
  if (PEM_AT_COLUMN_0.test(text)) {
    b.shape = 'pem';
    b.material(b.source('pem-file', null), text);
    return b.extraction;
  }
  if (YAML_KEY_AT_COLUMN_0.test(text) || /^---/m.test(text)) {
    let docs: unknown[];
    try {
      docs = parseYamlDocuments(text, file, opts.maxAliasCount ?? DEFAULT_MAX_ALIAS_COUNT);
    } catch (err) {
      if (
        err instanceof ImportError &&
        err.code === 'INPUT_YAML_MALFORMED' &&
        !opts.explicit &&
        !RELEVANT.test(text)
      ) {
        return skipped(b);
      }
      throw err;
    }
    b.shape = 'yaml';
    let recognised = false;
    docs.forEach((doc, i) => {
      if (readDocument(b, doc, i, opts)) recognised = true;
    });
    if (!recognised) return unrecognized(b, opts, 'it is YAML of no shape meshbridge reads');
    return b.extraction;
  }
  return unrecognized(b, opts, 'it is neither PEM, DER, JSON nor YAML');
}

/** One JSON value or YAML document. Returns false when it is no shape meshbridge reads. */
function readDocument(b: ExtractionBuilder, doc: unknown, index: number, opts: ContentOptions): boolean {
  if (doc === null || doc === undefined) return false;
  if (isKubernetesObject(doc)) {
    if (b.extraction.shape === 'json' || b.extraction.shape === 'yaml') b.shape = 'kubernetes';
    readKubernetesObject(
      b,
      doc,
      { forcedMesh: opts.mesh ?? null, maxAliasCount: opts.maxAliasCount ?? DEFAULT_MAX_ALIAS_COUNT },
      index,
    );
    return true;
  }
  if (isLinkerdValues(doc)) {
    b.shape = 'linkerd-values';
    readLinkerdValues(b, doc);
    return true;
  }
  if (isObj(doc) || Array.isArray(doc)) {
    const snake = toSnake(doc, b.file).value;
    if (isZtunnelDump(snake)) {
      b.shape = 'ztunnel-cert-dump';
      readZtunnelDump(b, doc);
      return true;
    }
    if (isObj(snake) && isEnvoySecretsDump(snake)) {
      readEnvoyDump(b, doc);
      return true;
    }
    // Any other structured document: read the PEM strings it holds, no role hints.
    const found = pemStrings(doc, b.file);
    for (const f of found) b.material(b.source('pem-file', null, undefined, f.path), f.text);
    return found.length > 0;
  }
  return false;
}

function decodeText(content: Uint8Array): string | undefined {
  const head = content.subarray(0, 8192);
  if (head.includes(0)) return undefined;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(content);
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch {
    return undefined;
  }
}

function skipped(b: ExtractionBuilder): Extraction {
  b.extraction.skipped = true;
  return b.extraction;
}

function unrecognized(b: ExtractionBuilder, opts: ContentOptions, why: string): Extraction {
  if (!opts.explicit) return skipped(b);
  if (b.extraction.certificates.length > 0 || b.extraction.keys.length > 0) return b.extraction;
  throw new ImportError(
    'INPUT_UNRECOGNIZED',
    `${b.file} is not a certificate source meshbridge reads (${why}); expected PEM/DER certificates, a Kubernetes Secret/ConfigMap, Linkerd values, or an Envoy/istioctl/ztunnel dump`,
    { details: { source: b.file } },
  );
}
