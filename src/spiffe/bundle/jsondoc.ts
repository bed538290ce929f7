import { SpiffeError } from '../errors.js';
import {
  formatPath,
  isJsonObject,
  type JsonObject,
  JsonReadError,
  type JsonValue,
  readJson,
  writeJsonValue,
} from './json.js';

/**
 * Reads a trust document (JWKS, SPIFFE bundle, bundle map) with the strict reader
 * and maps its failures onto stable codes:
 * - `BUNDLE_JSON_INVALID` ('input'): not UTF-8, not JSON, or not a JSON object;
 * - `BUNDLE_JSON_DUPLICATE_MEMBER` ('input', rule 67): a member name repeated in one object.
 */
export function readTrustDocument(
  input: string | Uint8Array,
  what: string,
  /** Lets a caller give some duplicates a more specific code (the bundle map's trust domains, R67). */
  onDuplicate?: (err: JsonReadError) => SpiffeError | undefined,
): JsonObject {
  let doc: JsonValue;
  try {
    doc = readJson(input);
  } catch (err) {
    if (err instanceof JsonReadError && err.kind === 'duplicate') {
      const specific = onDuplicate?.(err);
      if (specific !== undefined) throw specific;
      throw new SpiffeError(
        'BUNDLE_JSON_DUPLICATE_MEMBER',
        'input',
        `${what}: member ${JSON.stringify(err.key)} appears twice in ${formatPath(err.path)}; ` +
          'a JSON parser would silently keep one of them, so the document is refused',
        { rule: 67, cause: err, details: { path: formatPath(err.path), member: err.key } },
      );
    }
    throw new SpiffeError(
      'BUNDLE_JSON_INVALID',
      'input',
      `${what} is not valid JSON: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (!isJsonObject(doc)) {
    throw new SpiffeError('BUNDLE_JSON_INVALID', 'input', `${what} must be a JSON object`);
  }
  return doc;
}

/** Rule 59: `keys` is present and is an array. */
export function keysOf(doc: JsonObject, what: string): JsonValue[] {
  if (!Object.hasOwn(doc, 'keys')) {
    throw new SpiffeError(
      'BUNDLE_KEYS_MISSING',
      'input',
      `${what} has no "keys" member; a JWK Set must have one (an empty array is allowed)`,
      { rule: 59 },
    );
  }
  const keys = doc.keys;
  if (!Array.isArray(keys)) {
    throw new SpiffeError('BUNDLE_KEYS_INVALID', 'input', `${what}: "keys" must be an array of JWKs`, {
      rule: 59,
    });
  }
  return keys;
}

/** Serializes with a fixed member order (the caller builds objects in that order); bigint stays exact. */
export function writeJson(value: unknown, indent: number | undefined): string {
  return writeJsonValue(value, indent ?? 0);
}
