import { ImportError } from '../errors.js';

/** A JSON/YAML mapping as the readers see it. */
export type Obj = Record<string, unknown>;

export const MAX_DEPTH = 64;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function path(obj: unknown, ...keys: string[]): unknown {
  let cur = obj;
  for (const k of keys) {
    if (!isObj(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

export function tooDeep(where: string): ImportError {
  return new ImportError(
    'INPUT_TOO_DEEP',
    `${where} nests deeper than ${MAX_DEPTH} levels; it is not a manifest or dump meshbridge reads`,
    {
      details: { source: where },
    },
  );
}

/** `certificateChain` -> `certificate_chain`; `@type` and snake_case keys stay as they are. */
export function snakeKey(k: string): string {
  return /[A-Z]/.test(k) ? k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : k;
}

/** Deep copy with every mapping key in snake_case; says whether any camelCase key was seen. */
export function toSnake(
  value: unknown,
  where: string,
  depth = 0,
  seen = { camel: false },
): { value: unknown; camel: boolean } {
  if (depth > MAX_DEPTH) throw tooDeep(where);
  let out: unknown = value;
  if (Array.isArray(value)) {
    out = value.map((v) => toSnake(v, where, depth + 1, seen).value);
  } else if (isObj(value)) {
    const o: Obj = {};
    for (const [k, v] of Object.entries(value)) {
      const sk = snakeKey(k);
      if (sk !== k) seen.camel = true;
      o[sk] = toSnake(v, where, depth + 1, seen).value;
    }
    out = o;
  }
  return { value: out, camel: seen.camel };
}

/** Every string leaf holding a PEM BEGIN line, with its JSON path. */
export function pemStrings(
  value: unknown,
  where: string,
  at = '$',
  depth = 0,
  out: { path: string; text: string }[] = [],
) {
  if (depth > MAX_DEPTH) throw tooDeep(where);
  if (typeof value === 'string') {
    if (value.includes('-----BEGIN')) out.push({ path: at, text: value });
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => {
      pemStrings(v, where, `${at}[${i}]`, depth + 1, out);
    });
  } else if (isObj(value)) {
    for (const [k, v] of Object.entries(value)) {
      pemStrings(
        v,
        where,
        /^[A-Za-z_][\w]*$/.test(k) ? `${at}.${k}` : `${at}[${JSON.stringify(k)}]`,
        depth + 1,
        out,
      );
    }
  }
  return out;
}
