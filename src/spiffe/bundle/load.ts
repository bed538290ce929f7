import { SpiffeError, type Warning } from '../errors.js';
import { TrustDomain } from '../spiffeid/index.js';
import { isJsonObject, type JsonObject } from './json.js';
import { readTrustDocument } from './jsondoc.js';
import { bundleNotFound, JwtBundle } from './jwtbundle.js';
import { parseBundleMap } from './set.js';
import {
  SpiffeBundle,
  type SpiffeBundleParseOptions,
  USE_JWT_SVID,
  USE_WIT_SVID,
  USE_X509_SVID,
} from './spiffebundle.js';
import { X509Bundle } from './x509bundle.js';

export type BundleFormat = 'pem' | 'der' | 'spiffe' | 'jwks' | 'bundle-map';

export interface LoadBundleOptions extends SpiffeBundleParseOptions {
  /** Bundles do not name their trust domain (rule 64): the caller says which one this is. */
  trustDomain: TrustDomain | string;
}

export interface LoadedBundle {
  format: BundleFormat;
  trustDomain: TrustDomain;
  /** Everything found, as one SPIFFE bundle (a source for both SVID types). */
  bundle: SpiffeBundle;
  /** X.509 authorities: set for PEM and DER (possibly empty), and for JSON forms holding any. */
  x509: X509Bundle | undefined;
  /** JWT authorities: set for a plain JWKS (possibly empty), and for SPIFFE forms holding any. */
  jwt: JwtBundle | undefined;
  warnings: Warning[];
}

/**
 * Reads a `--bundle` file whatever its form: PEM certificates, concatenated DER
 * certificates, a SPIFFE bundle (JWKS with `use` members and/or `spiffe_*`), a
 * plain JWKS as the Workload API delivers JWT bundles (N7: keys without `use` are
 * JWT authorities), or a bundle map (the entry for `trustDomain` is taken;
 * `BUNDLE_NOT_FOUND` when it has none). An empty file is an empty PEM bundle
 * that trusts nothing (R60). Anything else: `BUNDLE_FORMAT_UNKNOWN` ('input').
 */
export function loadBundle(input: Uint8Array | string, options: LoadBundleOptions): LoadedBundle {
  const trustDomain =
    typeof options.trustDomain === 'string' ? TrustDomain.parse(options.trustDomain) : options.trustDomain;
  const kind = sniff(input);
  const warnings: Warning[] = [];
  switch (kind) {
    case 'empty':
    case 'pem':
    case 'der': {
      const x509 = X509Bundle.parse(trustDomain, input);
      if (x509.isEmpty()) {
        warnings.push({
          code: 'BUNDLE_EMPTY',
          rule: 60,
          message: 'the bundle holds no certificate and trusts nothing',
        });
      }
      return {
        format: kind === 'der' ? 'der' : 'pem',
        trustDomain,
        bundle: SpiffeBundle.fromX509Bundle(x509),
        x509,
        jwt: undefined,
        warnings,
      };
    }
    case 'json': {
      const doc = readTrustDocument(input, `bundle for ${trustDomain.name}`);
      if (!Object.hasOwn(doc, 'keys') && isJsonObject(doc.trust_domains)) {
        const map = parseBundleMap(input, options);
        const bundle = map.set.get(trustDomain);
        if (bundle === undefined) throw bundleNotFound(trustDomain, 'SPIFFE');
        const prefix = `${trustDomain.name}: `;
        return found(
          'bundle-map',
          bundle,
          map.warnings.filter((w) => w.message.startsWith(prefix)),
        );
      }
      if (isSpiffeBundleDocument(doc)) {
        const parsed = SpiffeBundle.fromDocument(trustDomain, doc, options);
        return found('spiffe', parsed.bundle, parsed.warnings);
      }
      const parsed = JwtBundle.parseWithWarnings(trustDomain, input);
      return {
        format: 'jwks',
        trustDomain,
        bundle: SpiffeBundle.fromJwtBundle(parsed.bundle),
        x509: undefined,
        jwt: parsed.bundle,
        warnings: parsed.warnings,
      };
    }
    default:
      throw new SpiffeError(
        'BUNDLE_FORMAT_UNKNOWN',
        'input',
        'bundle is neither PEM, DER, a SPIFFE bundle, a JWKS nor a bundle map',
      );
  }

  function found(format: BundleFormat, bundle: SpiffeBundle, w: Warning[]): LoadedBundle {
    return {
      format,
      trustDomain,
      bundle,
      x509: bundle.x509Authorities.length > 0 ? bundle.toX509Bundle() : undefined,
      jwt: bundle.jwtAuthorities.length > 0 ? bundle.toJwtBundle() : undefined,
      warnings: w,
    };
  }
}

/** A JWKS is read as a SPIFFE bundle when it has `spiffe_*` members or a key with a SPIFFE `use`. */
export function isSpiffeBundleDocument(doc: JsonObject): boolean {
  if (Object.hasOwn(doc, 'spiffe_sequence') || Object.hasOwn(doc, 'spiffe_refresh_hint')) return true;
  const keys = doc.keys;
  if (!Array.isArray(keys)) return !Object.hasOwn(doc, 'keys');
  return keys.some(
    (k) => isJsonObject(k) && (k.use === USE_X509_SVID || k.use === USE_JWT_SVID || k.use === USE_WIT_SVID),
  );
}

function sniff(input: Uint8Array | string): 'empty' | 'pem' | 'der' | 'json' | 'unknown' {
  const head =
    typeof input === 'string'
      ? input.slice(0, 4096)
      : Buffer.from(input.subarray(0, 4096)).toString('latin1');
  let i = 0;
  if (head.startsWith('\ufeff')) i = 1;
  else if (head.startsWith('\xef\xbb\xbf')) i = 3;
  while (i < head.length && ' \t\r\n'.includes(head[i]!)) i++;
  if (i === head.length) return input.length <= head.length ? 'empty' : 'unknown';
  const c = head[i];
  if (c === '{') return 'json';
  if (typeof input !== 'string' && i === 0 && input[0] === 0x30) return 'der';
  if (head.includes('-----BEGIN ')) return 'pem';
  return 'unknown';
}
