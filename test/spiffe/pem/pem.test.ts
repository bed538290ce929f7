import { describe, expect, it } from 'vitest';
import { SpiffeError } from '../../../src/spiffe/errors.js';
import { decodePem, encodePem } from '../../../src/spiffe/pem/index.js';
import { readFixture } from '../../helpers/fixtures.js';

const der = new Uint8Array(Array.from({ length: 100 }, (_, i) => i));

function codeAndDetails(fn: () => unknown): { code: string; details: unknown } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SpiffeError);
    return { code: (err as SpiffeError).code, details: (err as SpiffeError).details };
  }
  throw new Error('expected a SpiffeError');
}

describe('encodePem / decodePem', () => {
  it('round-trips with 64-character lines', () => {
    const pem = encodePem('CERTIFICATE', der);
    expect(pem.split('\n').every((l) => l.length <= 64)).toBe(true);
    const [block] = decodePem(pem);
    expect(block).toMatchObject({ type: 'CERTIFICATE', index: 0, line: 1 });
    expect(block!.der).toEqual(der);
  });

  it('tolerates leading text, blank lines, CRLF, indentation and trailing text', () => {
    const body = encodePem('CERTIFICATE', der)
      .replace(/\n/g, '\r\n')
      .replace(/\r\n(?=[A-Za-z0-9+/])/g, '\r\n  \r\n');
    const text = `subject=CN=x\r\nissuer=CN=y\r\n\r\n${body}\r\ntrailing words\r\n${encodePem('PRIVATE KEY', der)}`;
    const blocks = decodePem(text);
    expect(blocks.map((b) => [b.type, b.index])).toEqual([
      ['CERTIFICATE', 0],
      ['PRIVATE KEY', 1],
    ]);
    expect(blocks[0]!.line).toBe(4);
    expect(blocks[0]!.der).toEqual(der);
  });

  it('reads RFC 1421 headers without taking them for base64', () => {
    const pem = encodePem('RSA PRIVATE KEY', der).replace(
      '-----\n',
      '-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n',
    );
    const [block] = decodePem(pem);
    expect(block!.headers).toEqual({ 'Proc-Type': '4,ENCRYPTED', 'DEK-Info': 'AES-128-CBC,00' });
    expect(block!.der).toEqual(der);
  });

  it('accepts bytes as well as text', () => {
    expect(decodePem(new Uint8Array(Buffer.from(encodePem('X', der))))[0]!.der).toEqual(der);
  });
});

describe('damaged PEM is PEM_MALFORMED and names block number and line', () => {
  const good = encodePem('CERTIFICATE', der);
  it.each([
    ['bad base64 character', good + good.replace('AAECAwQF', 'AAEC*wQF'), { block: 2, line: 7 }],
    ['mismatched END label', good.replace('END CERTIFICATE', 'END PRIVATE KEY'), { block: 1, line: 5 }],
    ['missing END line', good.replace('-----END CERTIFICATE-----\n', ''), { block: 1, line: 1 }],
    ['bad padding', good.replace(/[A-Za-z0-9+/]=*\n-----END/, '=A\n-----END'), { block: 1 }],
    ['END without BEGIN', `${good}-----END CERTIFICATE-----\n`, { block: 2, line: 6 }],
  ])('%s', (_name, text, where) => {
    const { code, details } = codeAndDetails(() => decodePem(text));
    expect(code).toBe('PEM_MALFORMED');
    expect(details).toMatchObject(where);
  });
});

describe('input without PEM is PEM_NOT_FOUND', () => {
  it.each([
    ['go-spiffe x509svid/not-pem', readFixture('spiffe', 'go-spiffe', 'x509svid', 'not-pem')],
    ['empty input', new Uint8Array()],
    ['random text', 'hello\nworld\n'],
  ])('%s', (_name, input) => {
    expect(codeAndDetails(() => decodePem(input)).code).toBe('PEM_NOT_FOUND');
  });
});
