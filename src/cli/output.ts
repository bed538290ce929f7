import { Writable } from 'node:stream';

/** How a command talks to the terminal: JSON for scripts, tables and colour for people. */
export interface Output {
  readonly json: boolean;
  readonly color: boolean;
  readonly isTTY: boolean;
  out(line?: string): void;
  err(line: string): void;
  printJson(value: unknown): void;
}

export interface OutputOptions {
  json?: boolean;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
}

export function createOutput(opts: OutputOptions = {}): Output {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const env = opts.env ?? process.env;
  const isTTY = Boolean((stdout as { isTTY?: boolean }).isTTY);
  // https://no-color.org: any non-empty NO_COLOR disables colour.
  const color = isTTY && !env.NO_COLOR && env.TERM !== 'dumb' && !opts.json;
  return {
    json: Boolean(opts.json),
    color,
    isTTY,
    out: (line = '') => void stdout.write(`${line}\n`),
    err: (line) => void stderr.write(`${line}\n`),
    printJson: (value) => void stdout.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`),
  };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint')
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Date) return value.toISOString();
  return value;
}

const codes = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;
export type Style = keyof typeof codes;

export function paint(o: Output, style: Style, text: string): string {
  return o.color ? `\u001b[${codes[style]}m${text}\u001b[0m` : text;
}

export function pass(o: Output): string {
  return paint(o, 'green', '✓');
}

export function fail(o: Output): string {
  return paint(o, 'red', '×');
}

export function warnMark(o: Output): string {
  return paint(o, 'yellow', '!');
}

/** Column-aligned table; widths measured without ANSI escapes. */
export function table(headers: string[], rows: string[][]): string {
  const visible = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '').length;
  const widths = headers.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - visible(c))))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** A writable that collects text: tests run commands in-process with it. */
export class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}
