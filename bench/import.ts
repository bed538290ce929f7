// Mesh inventory import rate: `npx tsx bench/import.ts [--count 100000] [--db file] [--worker]`.
//
// Generates COUNT Istio-shaped workload certificates once (root -> intermediate -> leaves,
// P-256, empty subject, one SPIFFE URI SAN; 1000 per PEM file) under .cache/bench/, then
// imports the folder into a fresh SQLite file the way `meshbridge import` does (walk, read,
// link by signature, classify, judge, one transaction) in a child process, and prints
// certificates per second and the child's peak RSS. Target (2 cores): 100k in < 20 s,
// RSS < 600 MB. `--worker` checks leaf signatures on a worker thread (BuildOptions.workerThread),
// which `meshbridge import` does not do by default.
import { fork } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EKU, issueCertificate } from '../src/devca/issue.js';

const PER_FILE = 1000;
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const self = fileURLToPath(import.meta.url);
/** Workers and the import child run this same TypeScript file through tsx. */
const TSX = ['--import', 'tsx'];

interface GenJob {
  dir: string;
  files: number[];
  count: number;
  issuerPkcs8: string;
  issuerSubject: string;
  notBefore: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
}

function leafFile(job: GenJob, file: number): void {
  const privateKey = createPrivateKey(job.issuerPkcs8);
  const issuer = { subject: job.issuerSubject, privateKey, publicKey: createPublicKey(privateKey) };
  let out = '';
  const first = file * PER_FILE;
  const last = Math.min(job.count, first + PER_FILE);
  for (let i = first; i < last; i++) {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    out += issueCertificate(
      {
        subject: '',
        publicKey: key.publicKey,
        notBefore: new Date(job.notBefore),
        notAfter: new Date(job.notBefore + 30 * 86_400_000),
        keyUsage: ['digitalSignature', 'keyEncipherment'],
        extKeyUsage: [EKU.serverAuth, EKU.clientAuth],
        uris: [`spiffe://cluster.local/ns/ns-${i % 200}/sa/sa-${i}`],
      },
      issuer,
    ).pem;
  }
  writeFileSync(join(job.dir, `leaves-${String(file).padStart(4, '0')}.pem`), out);
}

async function generate(dir: string, count: number): Promise<void> {
  const marker = join(dir, 'COMPLETE');
  if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === String(count)) return;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const started = Date.now();
  const root = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const inter = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  const rootSubject = 'O=cluster.local,CN=Bench Root';
  const interSubject = 'O=cluster.local,CN=Bench Intermediate';
  const rootCert = issueCertificate(
    {
      subject: rootSubject,
      publicKey: root.publicKey,
      notBefore: new Date(now - 86_400_000),
      notAfter: new Date(now + 3650 * 86_400_000),
      ca: true,
      keyUsage: ['keyCertSign', 'cRLSign'],
    },
    { subject: rootSubject, ...root },
  );
  const interCert = issueCertificate(
    {
      subject: interSubject,
      publicKey: inter.publicKey,
      notBefore: new Date(now - 86_400_000),
      notAfter: new Date(now + 365 * 86_400_000),
      ca: true,
      keyUsage: ['keyCertSign', 'cRLSign'],
    },
    { subject: rootSubject, ...root },
  );
  // Sorted first, so every leaf meets its issuer on arrival (the common export order).
  writeFileSync(join(dir, '0000-ca.pem'), interCert.pem + rootCert.pem);
  const files = Math.ceil(count / PER_FILE);
  const workers = Math.max(1, cpus().length);
  const jobs: GenJob[] = Array.from({ length: workers }, () => ({
    dir,
    files: [],
    count,
    issuerPkcs8: inter.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    issuerSubject: interSubject,
    notBefore: now - 3_600_000,
  }));
  for (let f = 0; f < files; f++) jobs[f % workers]!.files.push(f);
  process.stdout.write(
    `generating ${count} workload certificates in ${dir} (${workers} processes, once)...\n`,
  );
  await Promise.all(
    jobs.map(
      (job) =>
        new Promise<void>((ok, ko) => {
          const w = fork(self, ['--generate', JSON.stringify(job)], { execArgv: TSX });
          w.on('error', ko);
          w.on('exit', (code) => (code === 0 ? ok() : ko(new Error(`generator process exited ${code}`))));
        }),
    ),
  );
  writeFileSync(marker, `${count}\n`);
  process.stdout.write(`generated in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

async function child(dir: string, db: string): Promise<void> {
  const { InventoryBuilder, listInputFiles, readInputFiles, toImportRecord } = await import(
    '../src/mesh-import/index.js'
  );
  const { openStore, saveImport } = await import('../src/store/index.js');
  const t0 = performance.now();
  const files = await listInputFiles([dir]);
  const builder = new InventoryBuilder({
    cluster: 'bench',
    workerThread: process.argv.includes('--worker'),
  });
  for await (const ex of readInputFiles(files)) {
    builder.add(ex);
    await builder.ready();
  }
  const inv = await builder.finish();
  const t1 = performance.now();
  const store = await openStore(db);
  const result = await saveImport(store, toImportRecord(inv));
  await store.close();
  const t2 = performance.now();
  process.send?.({
    certificates: result.certificates.total,
    workloads: inv.workloads.length,
    anchored: inv.workloads.filter((w) => w.anchorFingerprint !== null).length,
    problems: inv.problems.length,
    readMs: t1 - t0,
    saveMs: t2 - t1,
    maxRssKb: process.resourceUsage().maxRSS,
  });
}

async function main(): Promise<void> {
  const count = Number(arg('count', '100000'));
  const dir = join(repoRoot, '.cache', 'bench', `workloads-${count}`);
  await generate(dir, count);
  const tmp = mkdtempSync(join(tmpdir(), 'meshbridge-bench-'));
  const db = arg('db', join(tmp, 'bench.db'));
  const stats = await new Promise<Record<string, number>>((ok, ko) => {
    const extra = process.argv.includes('--worker') ? ['--worker'] : [];
    const c = fork(self, ['--child', dir, db, ...extra], { execArgv: TSX });
    c.on('message', (m) => ok(m as Record<string, number>));
    c.on('error', ko);
    c.on('exit', (code) => code !== 0 && ko(new Error(`import child exited ${code}`)));
  });
  rmSync(tmp, { recursive: true, force: true });
  const total = (stats.readMs! + stats.saveMs!) / 1000;
  console.log(
    `certificates:   ${stats.certificates} (${stats.workloads} workloads, ${stats.anchored} chained to the anchor, ${stats.problems} problems)`,
  );
  console.log(`read + link:    ${(stats.readMs! / 1000).toFixed(2)} s`);
  console.log(`save (SQLite):  ${(stats.saveMs! / 1000).toFixed(2)} s`);
  console.log(
    `total:          ${total.toFixed(2)} s = ${Math.round(stats.certificates! / total)} certificates/s`,
  );
  console.log(`peak RSS:       ${Math.round(stats.maxRssKb! / 1024)} MB`);
  const ok = total < 20 && stats.maxRssKb! / 1024 < 600;
  console.log(
    ok ? 'within target (100k < 20 s, RSS < 600 MB)' : 'OUTSIDE target (100k < 20 s, RSS < 600 MB)',
  );
  if (count === 100_000 && !ok) process.exitCode = 1;
}

if (process.argv.includes('--generate')) {
  const job = JSON.parse(process.argv[process.argv.indexOf('--generate') + 1]!) as GenJob;
  for (const f of job.files) leafFile(job, f);
} else if (process.argv.includes('--child')) {
  const i = process.argv.indexOf('--child');
  await child(process.argv[i + 1]!, process.argv[i + 2]!);
} else {
  await main();
}
