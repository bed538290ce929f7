// Identity mapping rate: `npx tsx bench/map.ts [count]` (default 100,000 workloads; target < 2 s).
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { emit } from '../src/mapper/emit/index.js';
import { type MappableWorkload, mapWorkloads } from '../src/mapper/map.js';
import { rulesFromObject } from '../src/mapper/rules.js';

const COUNT = Number(process.argv[2] ?? 100_000);
const TARGET_MS = 2000;
const CLUSTERS = ['east', 'west', 'central'];

const rules = rulesFromObject({
  trustDomain: 'prod.example.org',
  rules: [
    {
      name: 'payments',
      match: { mesh: 'istio', namespace: ['payments-*', 'billing-*'] },
      spiffeId: 'spiffe://{trustDomain}/pay/{cluster}/{namespace}/{serviceAccount}',
      owner: 'team-payments',
    },
    {
      match: { mesh: 'istio', cluster: 'east*' },
      spiffeId: 'spiffe://{trustDomain}/k8s/{cluster}/ns/{namespace}/sa/{serviceAccount}',
    },
    {
      match: { mesh: 'istio' },
      spiffeId: 'spiffe://{trustDomain}/{cluster}/ns/{namespace}/sa/{serviceAccount}',
    },
    {
      match: { mesh: 'linkerd' },
      spiffeId: 'spiffe://{trustDomain}/l/{cluster}/{namespace}/{serviceAccount}',
    },
  ],
  defaults: { x509SvidTtl: '1h', jwtSvidTtl: '5m' },
});

function workloads(n: number): MappableWorkload[] {
  const out: MappableWorkload[] = [];
  for (let i = 0; i < n; i++) {
    const cluster = CLUSTERS[i % CLUSTERS.length]!;
    const ns = `${i % 10 === 0 ? 'payments' : 'team'}-${(i >> 4) % 500}`;
    const sa = `svc-${i}`;
    const linkerd = i % 4 === 0;
    out.push({
      fingerprint: i.toString(16).padStart(64, '0'),
      mesh: linkerd ? 'linkerd' : 'istio',
      cluster,
      meshIdentity: linkerd
        ? `${sa}.${ns}.serviceaccount.identity.linkerd.cluster.local`
        : `spiffe://cluster.local/ns/${ns}/sa/${sa}`,
      // As the importer stores them: namespace/account read from the identity.
      namespace: ns,
      serviceAccount: sa,
    });
  }
  return out;
}

const input = workloads(COUNT);
mapWorkloads(input.slice(0, 2000), rules); // warm up the JIT

// Several runs. This machine is shared: wall time moves with the load of others, CPU time
// (user + system of this process) much less, so both are printed and the target applies to
// the median CPU time; on an idle machine the two agree.
const RUNS = 5;
const wall: number[] = [];
const cpu: number[] = [];
let result = mapWorkloads(input.slice(0, 1), rules);
for (let r = 0; r < RUNS; r++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  result = mapWorkloads(input, rules);
  wall.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / 1000);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const wallMs = median(wall);
const cpuMs = median(cpu);
const best = Math.min(...wall);

const t1 = performance.now();
const out = emit({ rules, result, emit: ['spire-entries', 'csv', 'json'] });
const emitMs = performance.now() - t1;

const rate = (ms: number) => Math.round((COUNT / ms) * 1000).toLocaleString('en');
console.log(
  `mapped ${COUNT.toLocaleString('en')} workloads (${result.identities.length.toLocaleString('en')} identities, ${result.unmapped.length} unmapped, ${result.problems.length} problems)`,
);
console.log(
  `  CPU time median ${cpuMs.toFixed(0)} ms = ${rate(cpuMs)} workloads/s; wall median ${wallMs.toFixed(0)} ms = ${rate(wallMs)} workloads/s, best ${best.toFixed(0)} ms = ${rate(best)} workloads/s`,
);
console.log(
  `  runs (wall/CPU ms): ${wall.map((w, i) => `${w.toFixed(0)}/${cpu[i]!.toFixed(0)}`).join(', ')}; load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} CPUs; target < ${TARGET_MS} ms`,
);
console.log(
  `emitted spire-entries + csv + json (${out.files.length} files, ${(out.files.reduce((n, f) => n + f.content.length, 0) / 1e6).toFixed(1)} MB) in ${emitMs.toFixed(0)} ms`,
);
for (const p of result.problems)
  console.log(`${p.blocking ? 'blocking' : 'warning'} ${p.code}: ${p.message}`);
if (result.blocking || cpuMs >= TARGET_MS) process.exitCode = 1;
