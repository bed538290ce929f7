import type { Output } from './output.js';

export interface Progress {
  tick(n?: number): void;
  setTotal(total: number): void;
  done(): void;
}

const noop: Progress = { tick() {}, setTotal() {}, done() {} };

/**
 * A progress bar on stderr, only for people: never with --json, never when stderr
 * is not a terminal, redrawn at most every 100 ms.
 */
export function progress(
  o: Output,
  label: string,
  total = 0,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  if (o.json || !stream.isTTY) return noop;
  let done = 0;
  let last = 0;
  const started = Date.now();
  const draw = (final = false) => {
    const now = Date.now();
    if (!final && now - last < 100) return;
    last = now;
    const rate = done / Math.max((now - started) / 1000, 0.001);
    const width = 30;
    const bar =
      total > 0
        ? `[${'#'.repeat(Math.round((width * Math.min(done, total)) / total)).padEnd(width, '.')}] ${done}/${total}`
        : `${done}`;
    stream.write(`\r${label} ${bar} ${Math.round(rate)}/s\u001b[K`);
  };
  return {
    tick(n = 1) {
      done += n;
      draw();
    },
    setTotal(t) {
      total = t;
    },
    done() {
      draw(true);
      stream.write('\n');
    },
  };
}
