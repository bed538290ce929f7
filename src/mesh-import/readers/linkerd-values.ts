/**
 * Linkerd Helm values (a values.yaml, `helm get values`, or the `values` key of the
 * `linkerd-config` ConfigMap that `linkerd install` writes): `identityTrustAnchorsPEM`
 * (Linkerd 2.10+, or `global.identityTrustAnchorsPEM` before) holds the trust anchors,
 * `identity.issuer.tls.crtPEM` / `keyPEM` the issuer.
 */
import type { ExtractionBuilder } from '../extraction.js';
import { isObj, type Obj, path, str } from './values.js';

export function isLinkerdValues(doc: unknown): doc is Obj {
  return (
    isObj(doc) &&
    (typeof doc.identityTrustAnchorsPEM === 'string' ||
      typeof path(doc, 'global', 'identityTrustAnchorsPEM') === 'string')
  );
}

/** Reads the anchors and issuer of one values document. `object` names where the document sits. */
export function readLinkerdValues(b: ExtractionBuilder, doc: Obj, object?: string): number {
  let n = 0;
  const anchorsKey =
    typeof doc.identityTrustAnchorsPEM === 'string'
      ? 'identityTrustAnchorsPEM'
      : 'global.identityTrustAnchorsPEM';
  const anchors = str(doc.identityTrustAnchorsPEM) ?? str(path(doc, 'global', 'identityTrustAnchorsPEM'));
  if (anchors !== undefined) {
    n += b.material(b.source('linkerd-values', 'linkerd', object, anchorsKey), anchors, {
      hint: 'anchor',
      required: true,
    });
  }
  const tls = path(doc, 'identity', 'issuer', 'tls');
  const crt = str(path(tls, 'crtPEM'));
  if (crt !== undefined && crt.trim() !== '') {
    const crtSource = b.source('linkerd-values', 'linkerd', object, 'identity.issuer.tls.crtPEM');
    n += b.material(crtSource, crt, { hint: 'issuer', firstOnly: true, required: true });
    const key = str(path(tls, 'keyPEM'));
    if (key !== undefined && key.trim() !== '') {
      b.material(b.source('linkerd-values', 'linkerd', object, 'identity.issuer.tls.keyPEM'), key, {
        pairedWith: crtSource.locator,
      });
    }
  }
  return n;
}
