import { inputError } from './errors.js';

/** A cutover scope: `istio`, `istio/east`, `istio/east/payments` (mesh > cluster > namespace); `*` is everything. */
export interface Scope {
  /** As written, `*` for everything. */
  name: string;
  mesh?: string;
  cluster?: string;
  namespace?: string;
}

export const ALL_SCOPE: Scope = { name: '*' };

export function parseScope(text: string | undefined): Scope {
  if (text === undefined || text === '' || text === '*') return ALL_SCOPE;
  const parts = text.split('/');
  if (parts.length > 3 || parts.some((p) => !/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/i.test(p))) {
    throw inputError(
      'SCOPE_INVALID',
      `scope "${text}" is not mesh[/cluster[/namespace]], e.g. istio/east/payments`,
    );
  }
  const [mesh, cluster, namespace] = parts;
  return {
    name: text,
    ...(mesh === undefined ? {} : { mesh }),
    ...(cluster === undefined ? {} : { cluster }),
    ...(namespace === undefined ? {} : { namespace }),
  };
}
