import { SpiffeError } from '../errors.js';

/** One PEM block (RFC 7468) with where it was found. */
export interface PemBlock {
  /** The label between `BEGIN ` and `-----`, e.g. `CERTIFICATE`, `PRIVATE KEY`. */
  type: string;
  der: Uint8Array;
  /** 0-based position among the blocks of the input. */
  index: number;
  /** 1-based line of the BEGIN line. */
  line: number;
  /** RFC 1421 headers (`Proc-Type: ...`), when the block has any. */
  headers?: Record<string, string>;
}

const BEGIN = /^-----BEGIN ([\x21-\x2c\x2e-\x7e](?:[\x21-\x2c\x2e-\x7e \t-]*[\x21-\x2c\x2e-\x7e])?)?-----$/;
const END = /^-----END ([\x21-\x2c\x2e-\x7e](?:[\x21-\x2c\x2e-\x7e \t-]*[\x21-\x2c\x2e-\x7e])?)?-----$/;
const B64_LINE = /^[A-Za-z0-9+/=]*$/;
const HEADER = /^([A-Za-z0-9-]+):\s*(.*)$/;

function toText(input: string | Uint8Array): string {
  return typeof input === 'string'
    ? input
    : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('latin1');
}

function malformed(block: number, line: number, message: string): SpiffeError {
  return new SpiffeError('PEM_MALFORMED', 'input', `PEM block ${block} (line ${line}): ${message}`, {
    details: { block, line },
  });
}

/** True when the text holds at least one BEGIN line (cheap pre-check). */
export function looksLikePem(input: string | Uint8Array): boolean {
  return toText(input).includes('-----BEGIN ');
}

/**
 * Decodes every PEM block in `input`. Blank lines, CRLF, leading and trailing text
 * between blocks are tolerated. A damaged block (bad base64, missing or mismatched
 * END line) raises `PEM_MALFORMED` naming the block number (1-based) and the line.
 * Input without any block raises `PEM_NOT_FOUND`.
 */
export function decodePem(input: string | Uint8Array): PemBlock[] {
  const lines = toText(input).split(/\r\n|\n|\r/);
  const blocks: PemBlock[] = [];
  let i = 0;
  while (i < lines.length) {
    const raw = lines[i]!.trim();
    const begin = raw.startsWith('-----BEGIN') ? BEGIN.exec(raw) : null;
    if (begin === null) {
      if (raw.startsWith('-----END')) {
        throw malformed(blocks.length + 1, i + 1, 'END line without a BEGIN line');
      }
      i++;
      continue;
    }
    const type = begin[1] ?? '';
    const blockNo = blocks.length + 1;
    const beginLine = i + 1;
    i++;
    let body = '';
    let headers: Record<string, string> | undefined;
    let inHeaders = true;
    let ended = false;
    for (; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line.startsWith('-----')) {
        const end = END.exec(line);
        if (end === null) {
          throw malformed(blockNo, i + 1, `expected "-----END ${type}-----", found "${line.slice(0, 60)}"`);
        }
        if ((end[1] ?? '') !== type) {
          throw malformed(blockNo, i + 1, `END ${end[1] ?? ''} does not match BEGIN ${type}`);
        }
        ended = true;
        i++;
        break;
      }
      if (inHeaders) {
        const h = HEADER.exec(line);
        if (h !== null && body === '') {
          headers ??= {};
          headers[h[1]!] = h[2]!;
          continue;
        }
        inHeaders = false;
      }
      if (line === '') continue;
      const compact = line.replace(/[ \t]+/g, '');
      if (!B64_LINE.test(compact)) {
        throw malformed(blockNo, i + 1, 'body is not base64');
      }
      body += compact;
    }
    if (!ended) throw malformed(blockNo, beginLine, `no "-----END ${type}-----" line`);
    const pad = body.indexOf('=');
    if (body.length % 4 !== 0 || (pad !== -1 && pad < body.length - 2) || /=[^=]/.test(body)) {
      throw malformed(blockNo, beginLine, 'base64 body has a bad length or padding');
    }
    const der = new Uint8Array(Buffer.from(body, 'base64'));
    const block: PemBlock = { type, der, index: blocks.length, line: beginLine };
    if (headers !== undefined) block.headers = headers;
    blocks.push(block);
  }
  if (blocks.length === 0) {
    throw new SpiffeError('PEM_NOT_FOUND', 'input', 'no PEM block found in the input');
  }
  return blocks;
}

/** PEM text for one block: 64-character base64 lines, LF endings, trailing newline. */
export function encodePem(type: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let out = `-----BEGIN ${type}-----\n`;
  for (let i = 0; i < b64.length; i += 64) out += `${b64.slice(i, i + 64)}\n`;
  return `${out}-----END ${type}-----\n`;
}
