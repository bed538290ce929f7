export { type JsonObject, type JsonValue, readJson, writeJsonValue } from './json.js';
export {
  bundleNotFound,
  createJwtAuthority,
  type JwtAuthority,
  JwtBundle,
  type JwtBundleParseResult,
  sameKey,
} from './jwtbundle.js';
export {
  type BundleFormat,
  isSpiffeBundleDocument,
  type LoadBundleOptions,
  type LoadedBundle,
  loadBundle,
} from './load.js';
export {
  type BundleMapParseResult,
  BundleSet,
  type MarshalBundleMapOptions,
  marshalBundleMap,
  parseBundleMap,
} from './set.js';
export type { JwtBundleSource, X509BundleSource } from './source.js';
export {
  MAX_SEQUENCE_NUMBER,
  SpiffeBundle,
  type SpiffeBundleInit,
  type SpiffeBundleParseOptions,
  type SpiffeBundleParseResult,
  USE_JWT_SVID,
  USE_WIT_SVID,
  USE_X509_SVID,
} from './spiffebundle.js';
export { mayHaveIssued, X509Bundle, X509BundleSet } from './x509bundle.js';
