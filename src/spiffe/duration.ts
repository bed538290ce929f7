import { SpiffeError } from './errors.js';

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/**
 * Parses an operator-written duration into seconds: `90`, `300s`, `5m`, `1h30m`,
 * `30d`, `2w` (Go-style units, as SPIRE and Kubernetes configs write them).
 */
export function parseDuration(input: string | number, what = 'duration'): number {
  if (typeof input === 'number') {
    if (Number.isFinite(input) && input >= 0) return input;
  } else {
    const text = input.trim();
    if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
    const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
    let total = 0;
    let consumed = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      total += Number(m[1]) * UNITS[m[2]!]!;
      consumed = re.lastIndex;
    }
    if (consumed === text.length && consumed > 0) return total;
  }
  throw new SpiffeError(
    'DURATION_INVALID',
    'input',
    `${what} "${input}" is not a duration; write e.g. 300, 300s, 5m, 1h30m, 30d`,
  );
}

/** Seconds → the shortest exact Go-style string (`3600` → `1h`, `90` → `1m30s`). */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  let rest = Math.round(seconds);
  let out = '';
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}
