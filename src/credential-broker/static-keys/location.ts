/**
 * Where a static key lives: `aws:<secret-id-or-arn>`, `vault:<kv-mount>/<path>`, or
 * `external` (optionally `external:<note>`) for a key meshbridge cannot rotate itself.
 */
import { StaticKeyError } from './errors.js';
import type { LocationKind } from './schema.js';

export type KeyLocation =
  | { kind: 'aws'; secretId: string }
  | { kind: 'vault'; path: string }
  | { kind: 'external'; note?: string };

export function parseLocation(text: string): KeyLocation {
  const t = text.trim();
  if (t === 'external') return { kind: 'external' };
  if (t.startsWith('external:')) {
    const note = t.slice('external:'.length).trim();
    return note === '' ? { kind: 'external' } : { kind: 'external', note };
  }
  if (t.startsWith('aws:')) {
    const secretId = t.slice(4).trim();
    if (secretId === '' || secretId.length > 2048)
      throw invalid(text, 'aws: needs a secret name or ARN, e.g. aws:prod/orders-db');
    return { kind: 'aws', secretId };
  }
  if (t.startsWith('vault:')) {
    const path = t
      .slice(6)
      .trim()
      .replace(/^\/+|\/+$/g, '');
    if (!path.includes('/') || path.split('/').some((s) => s === ''))
      throw invalid(text, 'vault: needs <kv-mount>/<path>, e.g. vault:secret/app/orders-db');
    return { kind: 'vault', path };
  }
  throw invalid(text, 'use aws:<secret-id>, vault:<kv-path> or external');
}

function invalid(text: string, hint: string): StaticKeyError {
  return new StaticKeyError('STATIC_KEY_LOCATION_INVALID', `location "${text}" is not usable: ${hint}`);
}

/** `aws:<id>`, `vault:<path>`, `external`. */
export function formatLocation(loc: KeyLocation): string {
  switch (loc.kind) {
    case 'aws':
      return `aws:${loc.secretId}`;
    case 'vault':
      return `vault:${loc.path}`;
    case 'external':
      return 'external';
  }
}

/** The stored columns (location_kind, location, note) of a location. */
export function locationColumns(loc: KeyLocation): {
  kind: LocationKind;
  location: string;
  note: string | null;
} {
  switch (loc.kind) {
    case 'aws':
      return { kind: 'aws', location: loc.secretId, note: null };
    case 'vault':
      return { kind: 'vault', location: loc.path, note: null };
    case 'external':
      return { kind: 'external', location: '', note: loc.note ?? null };
  }
}

export function locationFromColumns(kind: LocationKind, location: string, note: string | null): KeyLocation {
  if (kind === 'aws') return { kind, secretId: location };
  if (kind === 'vault') return { kind, path: location };
  return note === null ? { kind: 'external' } : { kind: 'external', note };
}
