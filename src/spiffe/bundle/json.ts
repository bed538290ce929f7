/**
 * A strict JSON reader for trust documents (SPIFFE bundles, JWKS, bundle maps).
 *
 * `JSON.parse` is not good enough for these documents in two ways:
 * - it silently keeps the last of two duplicate member names (rule 67 wants the
 *   bundle map rejected; a duplicated `x` or `kid` inside a JWK is the same
 *   parser-differential hazard);
 * - it turns integers above 2^53 into nearby doubles (rule 57: `spiffe_sequence`
 *   is a 64-bit counter).
 * This reader reports duplicates with their path and returns integers outside the
 * safe range as `bigint`. Everything else is plain JSON (RFC 8259), nesting is
 * limited, and `__proto__` is an ordinary member name.
 */

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export type JsonPath = (string | number)[];

export class JsonReadError extends Error {
  constructor(
    readonly kind: 'syntax' | 'duplicate' | 'depth' | 'encoding',
    message: string,
    /** Path of the object holding a duplicate, or where the syntax error was found. */
    readonly path: JsonPath,
    readonly offset: number,
    /** The duplicated member name (`kind === 'duplicate'`). */
    readonly key?: string,
  ) {
    super(message);
    this.name = 'JsonReadError';
  }
}

export interface ReadJsonOptions {
  /** Maximum nesting of arrays and objects (default 64). */
  maxDepth?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8 (rule 118), rejecting invalid sequences; a leading BOM is dropped. */
export function decodeUtf8(input: string | Uint8Array): string {
  if (typeof input === 'string') return input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  try {
    return utf8.decode(input);
  } catch {
    throw new JsonReadError('encoding', 'document is not valid UTF-8', [], 0);
  }
}

export function readJson(input: string | Uint8Array, options: ReadJsonOptions = {}): JsonValue {
  return new Reader(decodeUtf8(input), options.maxDepth ?? 64).document();
}

export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Formats a path as `$.keys[1].kid`. */
export function formatPath(path: JsonPath): string {
  let out = '$';
  for (const p of path)
    out +=
      typeof p === 'number'
        ? `[${p}]`
        : /^[A-Za-z_][A-Za-z0-9_]*$/.test(p)
          ? `.${p}`
          : `[${JSON.stringify(p)}]`;
  return out;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;
const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

class Reader {
  private pos = 0;
  private readonly path: JsonPath = [];

  constructor(
    private readonly text: string,
    private readonly maxDepth: number,
  ) {}

  document(): JsonValue {
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.pos !== this.text.length) this.fail('unexpected data after the JSON value');
    return v;
  }

  private fail(message: string): never {
    throw new JsonReadError('syntax', `${message} at offset ${this.pos}`, [...this.path], this.pos);
  }

  private ws(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.pos++;
      else break;
    }
  }

  private value(depth: number): JsonValue {
    const c = this.text[this.pos];
    switch (c) {
      case '{':
        return this.object(depth + 1);
      case '[':
        return this.array(depth + 1);
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      case undefined:
        return this.fail('unexpected end of document');
      default:
        if (c === '-' || (c >= '0' && c <= '9')) return this.number();
        return this.fail(`unexpected character ${JSON.stringify(c)}`);
    }
  }

  private literal<T extends JsonValue>(word: string, v: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail('invalid literal');
    this.pos += word.length;
    return v;
  }

  private number(): number | bigint {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (m === null) return this.fail('invalid number');
    const raw = m[0];
    this.pos += raw.length;
    const n = Number(raw);
    if (INTEGER.test(raw) && !Number.isSafeInteger(n)) return BigInt(raw);
    if (!Number.isFinite(n)) this.fail('number out of range');
    return n;
  }

  private string(): string {
    const t = this.text;
    let i = ++this.pos;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= t.length) {
        this.pos = i;
        this.fail('unterminated string');
      }
      const c = t.charCodeAt(i);
      if (c === 0x22) {
        out += t.slice(start, i);
        this.pos = i + 1;
        return out;
      }
      if (c < 0x20) {
        this.pos = i;
        this.fail('control character in string');
      }
      if (c === 0x5c) {
        out += t.slice(start, i);
        const e = t[i + 1];
        if (e === 'u') {
          const hex = t.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
            this.pos = i;
            this.fail('invalid \\u escape');
          }
          out += String.fromCharCode(Number.parseInt(hex, 16));
          i += 6;
        } else {
          const r = e === undefined ? undefined : ESCAPES[e];
          if (r === undefined) {
            this.pos = i;
            this.fail('invalid escape');
          }
          out += r;
          i += 2;
        }
        start = i;
        continue;
      }
      i++;
    }
  }

  private array(depth: number): JsonValue[] {
    if (depth > this.maxDepth)
      throw new JsonReadError('depth', 'document nests too deeply', [...this.path], this.pos);
    this.pos++;
    const out: JsonValue[] = [];
    this.ws();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.path.push(out.length);
      this.ws();
      out.push(this.value(depth));
      this.path.pop();
      this.ws();
      const c = this.text[this.pos++];
      if (c === ']') return out;
      if (c !== ',') {
        this.pos--;
        this.fail('expected , or ]');
      }
    }
  }

  private object(depth: number): JsonObject {
    if (depth > this.maxDepth)
      throw new JsonReadError('depth', 'document nests too deeply', [...this.path], this.pos);
    this.pos++;
    const out: JsonObject = {};
    const seen = new Set<string>();
    this.ws();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.text[this.pos] !== '"') this.fail('expected a member name');
      const keyAt = this.pos;
      const key = this.string();
      if (seen.has(key)) {
        throw new JsonReadError(
          'duplicate',
          `member ${JSON.stringify(key)} appears twice in ${formatPath(this.path)}`,
          [...this.path],
          keyAt,
          key,
        );
      }
      seen.add(key);
      this.ws();
      if (this.text[this.pos] !== ':') this.fail('expected :');
      this.pos++;
      this.ws();
      this.path.push(key);
      const v = this.value(depth);
      this.path.pop();
      // defineProperty: a member named "__proto__" stays an own data property.
      Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      this.ws();
      const c = this.text[this.pos++];
      if (c === '}') return out;
      if (c !== ',') {
        this.pos--;
        this.fail('expected , or }');
      }
    }
  }
}

/**
 * Serializes like `JSON.stringify(value, null, indent)`, member order as built,
 * except that `bigint` is written as a JSON integer (rule 57) and `undefined`
 * members are left out.
 */
export function writeJsonValue(value: unknown, indent = 0): string {
  return write(value, indent > 0 ? ' '.repeat(indent) : '', '');
}

function write(v: unknown, step: string, pad: string): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError('cannot write a non-finite number as JSON');
      return JSON.stringify(v);
    case 'object':
      break;
    default:
      throw new TypeError(`cannot write a ${typeof v} as JSON`);
  }
  const inner = pad + step;
  const nl = step === '' ? '' : '\n';
  const colon = step === '' ? ':' : ': ';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return `[${nl}${v.map((x) => inner + write(x, step, inner)).join(`,${nl}`)}${nl}${pad}]`;
  }
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return '{}';
  return `{${nl}${entries.map(([k, x]) => inner + JSON.stringify(k) + colon + write(x, step, inner)).join(`,${nl}`)}${nl}${pad}}`;
}
