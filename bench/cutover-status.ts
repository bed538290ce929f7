// `cutover status --json` on a big inventory: `npx tsx bench/cutover-status.ts [--count 100000] [--db target]`.
//
// Seeds COUNT workloads of one Istio mesh (4 clusters x 100 namespaces, 30% re-imported
// with SPIRE-issued certificates, a mapping, SPIRE's root, an entry dump, 5000 edges,
// scopes in every phase) into a fresh SQLite file (or --db postgres://...), then times
// `meshbridge cutover status --json` run in-process the way a user runs it (open the
// store, derive, aggregate, print). Target: under 1 s for 100,000 workloads.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Capture } from '../src/cli/output.js';
import { runCli } from '../src/cli/program.js';
import { openStore } from '../src/store/index.js';
import { seedCutoverScale } from './lib/cutover.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
}

const count = Number(arg('count', '100000'));
const dir = mkdtempSync(join(tmpdir(), 'meshbridge-bench-cutover-'));
const target = arg('db', join(dir, 'bench.db'));
try {
  const store = await openStore(target);
  const seed = await seedCutoverScale(store, { workloads: count });
  await store.close();
  console.log(
    `seeded ${seed.workloads} workloads, ${seed.namespaces} namespaces, ${seed.scopes} scopes ` +
      `(import ${seed.seconds.import.toFixed(1)} s, observations ${seed.seconds.ingest.toFixed(1)} s)`,
  );
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 5; i++) {
    const out = new Capture();
    const t = performance.now();
    const code = await runCli(['--db', target, '--json', 'cutover', 'status'], {
      stdout: out,
      stderr: process.stderr,
      env: process.env,
    });
    times.push(performance.now() - t);
    if (code !== 0) throw new Error(`cutover status exited ${code}`);
    bytes = out.text.length;
    if (i === 0) {
      const report = JSON.parse(out.text) as {
        scopes: { scope: string; workloads: number; onSpire: number }[];
      };
      const mesh = report.scopes.find((s) => s.scope === 'istio');
      console.log(
        `status: ${report.scopes.length} scopes, istio ${mesh?.workloads} workloads, ${mesh?.onSpire} on SPIRE, ${bytes} bytes of JSON`,
      );
    }
  }
  const sorted = [...times].sort((a, b) => a - b);
  console.log(
    `cutover status --json, ${count} workloads: median ${sorted[2]!.toFixed(0)} ms, best ${sorted[0]!.toFixed(0)} ms, first ${times[0]!.toFixed(0)} ms (target < 1000 ms)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
