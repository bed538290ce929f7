import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { X509Bundle } from '../../src/spiffe/bundle/x509bundle.js';
import { TrustDomain } from '../../src/spiffe/spiffeid/index.js';
import { VerificationCache, verifyX509Svid } from '../../src/spiffe/svid/x509svid/index.js';
import {
  clearParseCache,
  configureParseCache,
  DEFAULT_PARSE_CACHE_SIZE,
} from '../../src/spiffe/x509/certificate.js';
import { createIntermediate, createLeaf, createRoot, resign, type TestCert } from '../../test/helpers/pki.js';

/**
 * X.509-SVID chains verified per second, one process, one core:
 * (a) meshbridge: `verifyX509Svid` straight from the DER bytes a Workload API or a
 *     TLS peer delivers (leaf + intermediate concatenated): parse (the intermediate
 *     comes from the parse cache), SPIFFE leaf guards, bundle lookup, validity of every
 *     certificate, leaf signature, intermediate link from the VerificationCache;
 * (b) baseline: raw node:crypto `X509Certificate.verify` of both signatures (leaf by
 *     intermediate, intermediate by root) on the same chains, parsed beforehand.
 * Every chain has its own leaf (own key, serial and signature), each measured once per
 * round, so neither the parse cache nor the verification cache can skip a leaf.
 */

export interface BenchX509Options {
  /** Distinct Istio-shaped leaves (default 3000). */
  chains?: number;
  /** Rounds per contender (default 5, alternating); the median is reported. */
  rounds?: number;
  log?: (line: string) => void;
}

export interface BenchX509Result {
  chains: number;
  meshbridgePerSec: number;
  rawNodePerSec: number;
  /** meshbridge / raw; the target is >= 0.6. */
  ratio: number;
}

export const X509_RATIO_TARGET = 0.6;

interface Chain {
  der: Uint8Array;
  leaf: X509Certificate;
  intermediate: X509Certificate;
}

export async function benchX509(opts: BenchX509Options = {}): Promise<BenchX509Result> {
  const n = opts.chains ?? 3000;
  const rounds = opts.rounds ?? 5;
  const log = opts.log ?? ((line: string) => console.log(line));
  const td = 'cluster.local';

  const root = await createRoot({ trustDomain: td, subject: `O=${td}` });
  const intermediate = await createIntermediate(root, { trustDomain: td, subject: `O=${td},CN=istiod` });
  const template = await createLeaf(intermediate, { id: `spiffe://${td}/ns/default/sa/default` });
  const leaves = makeLeaves(template, intermediate, n * rounds);
  const rootKey = new X509Certificate(root.der).publicKey;
  const interX = new X509Certificate(intermediate.der);
  const interKey = interX.publicKey;

  const chains: Chain[][] = [];
  for (let r = 0; r < rounds; r++) {
    const set: Chain[] = [];
    for (let i = 0; i < n; i++) {
      const leafDer = leaves[r * n + i]!;
      const der = new Uint8Array(leafDer.length + intermediate.der.length);
      der.set(leafDer);
      der.set(intermediate.der, leafDer.length);
      set.push({
        der,
        leaf: new X509Certificate(leafDer),
        intermediate: new X509Certificate(intermediate.der),
      });
    }
    chains.push(set);
  }

  const bundle = new X509Bundle(TrustDomain.parse(td), [root.cert]);
  const cache = new VerificationCache();
  configureParseCache(Math.max(DEFAULT_PARSE_CACHE_SIZE, 1024));
  clearParseCache();

  const meshbridge = (set: Chain[]) => {
    for (const c of set) {
      if (verifyX509Svid(c.der, bundle, { cache }).chain.length !== 3) throw new Error('unexpected chain');
    }
  };
  const raw = (set: Chain[]) => {
    for (const c of set) {
      if (!c.leaf.verify(interKey) || !c.intermediate.verify(rootKey)) throw new Error('raw verify failed');
    }
  };

  // Warm up both (JIT, parse cache for the intermediate, its verified link) on extra leaves.
  const warm = makeLeaves(template, intermediate, 300).map((l) => concat(l, intermediate.der));
  for (const der of warm) verifyX509Svid(der, bundle, { cache });
  for (let i = 0; i < 300; i++) interX.verify(rootKey);

  const mb: number[] = [];
  const rw: number[] = [];
  for (let r = 0; r < rounds; r++) {
    mb.push(rate(() => meshbridge(chains[r]!), n));
    rw.push(rate(() => raw(chains[(r + 1) % rounds]!), n));
  }
  clearParseCache();
  configureParseCache(DEFAULT_PARSE_CACHE_SIZE);

  const result: BenchX509Result = {
    chains: n,
    meshbridgePerSec: median(mb),
    rawNodePerSec: median(rw),
    ratio: median(mb) / median(rw),
  };
  log(
    `x509 chains (root -> intermediate -> P-256 leaf, Istio-shaped), ${n} distinct leaves x ${rounds} rounds, 1 core`,
  );
  log(
    `  meshbridge verifyX509Svid from DER (parse + verify, cache): ${Math.round(result.meshbridgePerSec)}/s`,
  );
  log(`  raw node X509Certificate.verify x2 (pre-parsed):            ${Math.round(result.rawNodePerSec)}/s`);
  log(`  ratio ${result.ratio.toFixed(2)} (target >= ${X509_RATIO_TARGET})`);
  return result;
}

/** `count` distinct leaves like `template`: fresh P-256 key and serial, re-signed by `issuer`. */
function makeLeaves(template: TestCert, issuer: TestCert, count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    const serial = Buffer.alloc(10);
    serial.writeUInt32BE(i + 1, 6);
    serial[0] = 0x02;
    serial[1] = 0x08;
    serial[2] = 0x4d;
    out.push(
      resign(template.der, issuer.key, undefined, (index, tlv) => {
        if (index === 1) return serial;
        if (index === 6) return spki;
        return tlv;
      }),
    );
  }
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function rate(fn: () => void, ops: number): number {
  const t0 = process.hrtime.bigint();
  fn();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return ops / s;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
