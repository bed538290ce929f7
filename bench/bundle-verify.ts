// The dry run's rate on both cores: `npx tsx bench/bundle-verify.ts [count]`.
//
// 100,000 inventoried-style certificates (Istio-shaped P-256 leaves, half under an
// intermediate of the old mesh root, half under an intermediate of the new one: a
// two-root bundle) verified by `dryRun` from their DER bytes — parse, SPIFFE leaf
// guards, bundle lookup, validity, one leaf signature (the intermediate's link comes
// from the VerificationCache) — on 2 worker threads, beside raw node:crypto
// `crypto.verify` of the same leaf signatures (pre-extracted, also on 2 threads).
// The certificates are generated once and cached in .cache/bench/ (git-ignored).
import { createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { bitString, seq } from '../src/devca/der-writer.js';
import { EKU, issueCertificate } from '../src/devca/issue.js';
import { dryRun, trustSet } from '../src/dual-trust/index.js';
import { readTlv } from '../src/spiffe/internal/der.js';
import { type Certificate, parseCertificate } from '../src/spiffe/x509/certificate.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const TD = 'cluster.local';
const TARGET = 0.5;
const DAY = 86_400_000;

interface Corpus {
  roots: Uint8Array[];
  intermediates: Uint8Array[];
  /** leaf DER, and which intermediate issued it */
  leaves: { der: Uint8Array; issuer: number }[];
  /** The instant every certificate is valid at. */
  at: number;
}

type Kind = 'meshbridge' | 'raw';
type Setup = { corpus: Corpus; from: number; to: number };
type Done = { kind: Kind; seconds: number; valid: number };

if (isMainThread) {
  const count = Number(process.argv[2] ?? 100_000);
  const rounds = Number(process.argv[3] ?? 5);
  const corpus = loadOrGenerate(count);
  const threads = Math.min(2, availableParallelism());
  console.log(
    `bundle verify: ${count} Istio-shaped P-256 leaves (2 intermediates, 2 roots), ${threads} worker threads, ${rounds} alternating rounds`,
  );
  const pool = await startWorkers(threads, corpus);
  const mb: number[] = [];
  const raw: number[] = [];
  let valid = 0;
  // Alternate the contenders round by round, so load from elsewhere on the machine hits both alike.
  for (let r = 0; r < rounds; r++) {
    const a = await pool.round('meshbridge');
    const b = await pool.round('raw');
    mb.push(count / a.seconds);
    raw.push(count / b.seconds);
    valid = a.valid;
  }
  await pool.close();
  const ratio = median(mb) / median(raw);
  console.log(
    `  meshbridge dryRun from DER (parse, guards, path, 1 signature): ${Math.round(median(mb))}/s median  [${mb.map(Math.round).join(', ')}]`,
  );
  console.log(
    `  raw node:crypto crypto.verify of the same leaf signatures:       ${Math.round(median(raw))}/s median  [${raw.map(Math.round).join(', ')}]`,
  );
  console.log(`  ratio ${ratio.toFixed(2)} (target >= ${TARGET}); ${valid}/${count} verified`);
  if (valid !== count) process.exitCode = 1;
  if (ratio < TARGET) process.exitCode = 1;
} else {
  const { corpus, from, to } = workerData as Setup;
  const mb = prepareMeshbridge(corpus, from, to);
  const raw = prepareRaw(corpus, from, to);
  parentPort!.on('message', (kind: Kind | 'exit') => {
    if (kind === 'exit') return process.exit(0);
    const t0 = performance.now();
    const valid = kind === 'meshbridge' ? mb() : raw();
    parentPort!.postMessage({ kind, seconds: (performance.now() - t0) / 1000, valid } satisfies Done);
  });
  parentPort!.postMessage('ready');
}

async function startWorkers(threads: number, corpus: Corpus) {
  const n = corpus.leaves.length;
  const per = Math.ceil(n / threads);
  // The worker runs this same TypeScript file: a data: module registers tsx in the thread, then imports it.
  const tsxApi = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'esm', 'api', 'index.mjs')).href;
  const boot = `import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(import.meta.url)});`;
  const bootUrl = new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
  const workers = await Promise.all(
    Array.from({ length: threads }, (_, i) => {
      const part: Corpus = { ...corpus, leaves: corpus.leaves.slice(i * per, Math.min(n, (i + 1) * per)) };
      const w = new Worker(bootUrl, {
        workerData: { corpus: part, from: 0, to: part.leaves.length } satisfies Setup,
      });
      w.on('error', (err) => {
        console.error(`worker failed: ${err.message}`);
        process.exit(1);
      });
      return new Promise<Worker>((ok) => w.once('message', () => ok(w)));
    }),
  );
  return {
    /** Every worker runs its share; the round lasts until the slowest is done (wall time). */
    async round(kind: Kind): Promise<{ seconds: number; valid: number }> {
      const t0 = performance.now();
      const done = await Promise.all(
        workers.map(
          (w) =>
            new Promise<Done>((ok) => {
              w.once('message', ok);
              w.postMessage(kind);
            }),
        ),
      );
      return { seconds: (performance.now() - t0) / 1000, valid: done.reduce((s, d) => s + d.valid, 0) };
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

/** The dry run over this worker's leaves: each round parses every leaf from DER again. */
function prepareMeshbridge(corpus: Corpus, from: number, to: number): () => number {
  const at = new Date(corpus.at);
  const clock = () => at;
  const bundle = trustSet(new Map([[TD, corpus.roots.map((d) => parseCertificate(d))]]));
  // Intermediates are parsed once, as the inventory holds them.
  const intermediates = corpus.intermediates.map((d) => parseCertificate(d));
  const leaves = corpus.leaves.slice(from, to);
  return () => {
    const candidates = function* (): Generator<{ source: string; chain: Certificate[] }> {
      for (const l of leaves) {
        yield {
          source: 'bench',
          chain: [parseCertificate(l.der, { cache: false }), intermediates[l.issuer]!],
        };
      }
    };
    return dryRun(candidates(), { bundle, clock }).valid;
  };
}

/** Raw node:crypto over the same leaf signatures, to-be-signed bytes and signatures extracted beforehand. */
function prepareRaw(corpus: Corpus, from: number, to: number): () => number {
  const interKeys: KeyObject[] = corpus.intermediates.map((d) => parseCertificate(d).publicKey);
  const items = corpus.leaves.slice(from, to).map((l) => {
    const c = parseCertificate(l.der, { cache: false });
    return { tbs: Buffer.from(c.tbs), sig: Buffer.from(c.signature), key: interKeys[l.issuer]! };
  });
  return () => {
    let valid = 0;
    for (const it of items)
      if (verify('sha256', it.tbs, { key: it.key, dsaEncoding: 'der' }, it.sig)) valid++;
    return valid;
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

// ---------------------------------------------------------------- corpus (generated once, cached)

function loadOrGenerate(count: number): Corpus {
  const file = join(root, '.cache', 'bench', `bundle-verify-${count}.json`);
  if (existsSync(file)) {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as {
      at: number;
      roots: string[];
      intermediates: string[];
      leaves: [string, number][];
    };
    console.log(`  corpus: ${file} (cached)`);
    const b = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
    return {
      at: raw.at,
      roots: raw.roots.map(b),
      intermediates: raw.intermediates.map(b),
      leaves: raw.leaves.map(([d, issuer]) => ({ der: b(d), issuer })),
    };
  }
  const t0 = Date.now();
  const now = Date.now();
  const ca = (subject: string, issuer?: { subject: string; key: KeyObject }) => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signer = issuer ?? { subject, key: pair.privateKey };
    const der = issueCertificate(
      {
        subject,
        publicKey: pair.publicKey,
        notBefore: new Date(now - DAY),
        notAfter: new Date(now + 10 * 365 * DAY),
        ca: true,
        ...(issuer ? { pathLen: 0 } : {}),
        keyUsage: ['keyCertSign', 'cRLSign'],
      },
      { subject: signer.subject, privateKey: signer.key, publicKey: createPublicKey(signer.key) },
    ).der;
    return { subject, key: pair.privateKey, der: new Uint8Array(der) };
  };
  const oldRoot = ca('O=Istio,CN=Root CA');
  const newRoot = ca('O=Istio,CN=Root CA 2026');
  const inters = [ca('O=Istio,CN=Istio CA', oldRoot), ca('O=Istio,CN=Istio CA 2026', newRoot)];
  const templates = inters.map((inter) => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return issueCertificate(
      {
        subject: '',
        publicKey: pair.publicKey,
        notBefore: new Date(now - DAY),
        notAfter: new Date(now + 365 * DAY),
        keyUsage: ['digitalSignature', 'keyEncipherment'],
        keyUsageCritical: false,
        extKeyUsage: [EKU.serverAuth, EKU.clientAuth],
        uris: [`spiffe://${TD}/ns/bench/sa/workload`],
      },
      { subject: inter.subject, privateKey: inter.key, publicKey: createPublicKey(inter.key) },
    ).der;
  });
  const leaves: { der: Uint8Array; issuer: number }[] = [];
  for (let i = 0; i < count; i++) {
    const issuer = i % 2;
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    leaves.push({ der: resign(templates[issuer]!, inters[issuer]!.key, i + 1, publicKey), issuer });
    if ((i + 1) % 20_000 === 0) console.log(`  generated ${i + 1}/${count} leaves`);
  }
  const corpus: Corpus = {
    at: now,
    roots: [oldRoot.der, newRoot.der],
    intermediates: inters.map((x) => x.der),
    leaves,
  };
  mkdirSync(dirname(file), { recursive: true });
  const b64 = (d: Uint8Array) => Buffer.from(d).toString('base64');
  writeFileSync(
    file,
    JSON.stringify({
      at: corpus.at,
      roots: corpus.roots.map(b64),
      intermediates: corpus.intermediates.map(b64),
      leaves: leaves.map((l) => [b64(l.der), l.issuer]),
    }),
  );
  console.log(`  corpus: generated ${count} leaves in ${((Date.now() - t0) / 1000).toFixed(1)} s -> ${file}`);
  return corpus;
}

/** A copy of `template` with its own serial number, subject key and signature, path SAN made unique. */
function resign(template: Uint8Array, key: KeyObject, serial: number, publicKey: KeyObject): Uint8Array {
  const outer = readTlv(template, 0);
  const tbs = readTlv(template, outer.valueStart, outer.end);
  const alg = readTlv(template, tbs.end, outer.end);
  const children: Uint8Array[] = [];
  for (let pos = tbs.valueStart, i = 0; pos < tbs.end; i++) {
    const t = readTlv(template, pos, tbs.end);
    if (i === 1) children.push(serialDer(serial));
    else if (i === 6) children.push(publicKey.export({ format: 'der', type: 'spki' }));
    else children.push(template.subarray(t.start, t.end));
    pos = t.end;
  }
  const newTbs = seq(...children);
  const sig = sign('sha256', newTbs, { key, dsaEncoding: 'der' });
  return seq(newTbs, template.subarray(alg.start, alg.end), bitString(sig));
}

function serialDer(n: number): Uint8Array {
  const hex = n.toString(16).padStart(16, '0');
  return new Uint8Array([0x02, 0x09, 0x00, ...Buffer.from(hex, 'hex')]);
}
