import { generateKeyPairSync, type KeyObject, verify } from 'node:crypto';
import { compactVerify } from 'jose';
import { JwtBundle } from '../../src/spiffe/bundle/jwtbundle.js';
import { TrustDomain } from '../../src/spiffe/spiffeid/index.js';
import { type JwtSvidAlgorithm, signJwtSvid, verifyJwtSvid } from '../../src/spiffe/svid/jwtsvid/index.js';

/**
 * JWT-SVID verifications per second through `verifyJwtSvid` (parse, alg/typ/sub
 * checks, bundle and kid lookup, signature, aud/exp) against a bare
 * `crypto.verify` of the very same signatures, in one process on one core.
 * Optionally also jose's `compactVerify` (signature only, WebCrypto) for reference.
 */

export interface BenchJwtOptions {
  /** Algorithms to measure (default ES256 and RS256). */
  algorithms?: JwtSvidAlgorithm[];
  /** Time per measured round, ms (default 400); rounds alternate between the contenders. */
  roundMs?: number;
  /** Rounds per contender (default 5); the median round is reported. */
  rounds?: number;
  /** Distinct tokens cycled through (default 512: different subjects, same key). */
  tokens?: number;
  /** Also measure jose `compactVerify` (default true). */
  jose?: boolean;
  log?: (line: string) => void;
}

export interface BenchJwtResult {
  alg: JwtSvidAlgorithm;
  verifyJwtSvidPerSec: number;
  rawCryptoVerifyPerSec: number;
  /** verifyJwtSvid / raw; the target is >= 0.6. */
  ratio: number;
  joseCompactVerifyPerSec?: number;
}

export const JWT_RATIO_TARGET = 0.6;

export async function benchJwt(opts: BenchJwtOptions = {}): Promise<BenchJwtResult[]> {
  const algs = opts.algorithms ?? ['ES256', 'RS256'];
  const roundMs = opts.roundMs ?? 400;
  const rounds = opts.rounds ?? 5;
  const count = opts.tokens ?? 512;
  const log = opts.log ?? ((line: string) => console.log(line));
  const td = TrustDomain.parse('bench.example');
  const now = new Date();
  const clock = () => now;
  const results: BenchJwtResult[] = [];

  for (const alg of algs) {
    const { publicKey, privateKey } = keyPairFor(alg);
    const bundle = new JwtBundle(td);
    bundle.addAuthority('bench-key', publicKey);
    bundle.addAuthority('other-key', keyPairFor(alg).publicKey);
    const tokens: string[] = [];
    for (let i = 0; i < count; i++) {
      tokens.push(
        signJwtSvid({
          id: `spiffe://bench.example/ns/ns-${i % 17}/sa/workload-${i}`,
          audience: ['spiffe://bench.example/api', `aud-${i % 3}`],
          ttl: 3600,
          key: privateKey,
          kid: 'bench-key',
          alg,
          clock,
        }),
      );
    }
    // The raw contender verifies exactly the same bytes with a prepared key.
    const hash = `sha${alg.slice(2)}`;
    const keyOpts = alg.startsWith('ES')
      ? { key: publicKey, dsaEncoding: 'ieee-p1363' as const }
      : alg.startsWith('PS')
        ? { key: publicKey, padding: 6, saltLength: Number(alg.slice(2)) / 8 }
        : publicKey;
    const raw = tokens.map((t) => {
      const dot = t.lastIndexOf('.');
      return { data: Buffer.from(t.slice(0, dot)), sig: Buffer.from(t.slice(dot + 1), 'base64url') };
    });
    const options = { audience: 'spiffe://bench.example/api', clock };
    for (const t of tokens) verifyJwtSvid(t, bundle, options); // warm up and prove they all verify

    const ours: number[] = [];
    const bare: number[] = [];
    for (let r = 0; r < rounds; r++) {
      ours.push(
        rate(roundMs, (i) => {
          verifyJwtSvid(tokens[i % count]!, bundle, options);
        }),
      );
      bare.push(
        rate(roundMs, (i) => {
          const x = raw[i % count]!;
          if (!verify(hash, x.data, keyOpts, x.sig)) throw new Error('raw verify failed');
        }),
      );
    }
    const result: BenchJwtResult = {
      alg,
      verifyJwtSvidPerSec: median(ours),
      rawCryptoVerifyPerSec: median(bare),
      ratio: median(ours) / median(bare),
    };
    if (opts.jose ?? true) {
      const samples: number[] = [];
      for (let r = 0; r < Math.min(rounds, 3); r++) {
        samples.push(
          await rateAsync(roundMs, async (i) => {
            await compactVerify(tokens[i % count]!, publicKey, { algorithms: [alg] });
          }),
        );
      }
      result.joseCompactVerifyPerSec = median(samples);
    }
    results.push(result);
    log(
      `${alg}: verifyJwtSvid ${fmt(result.verifyJwtSvidPerSec)}/s, raw crypto.verify ${fmt(result.rawCryptoVerifyPerSec)}/s, ` +
        `ratio ${result.ratio.toFixed(2)} (target >= ${JWT_RATIO_TARGET})` +
        (result.joseCompactVerifyPerSec === undefined
          ? ''
          : `; jose compactVerify ${fmt(result.joseCompactVerifyPerSec)}/s (${(result.joseCompactVerifyPerSec / result.rawCryptoVerifyPerSec).toFixed(2)} of raw)`),
    );
  }
  return results;
}

function keyPairFor(alg: JwtSvidAlgorithm): { publicKey: KeyObject; privateKey: KeyObject } {
  if (alg.startsWith('ES')) {
    const curve = alg === 'ES256' ? 'P-256' : alg === 'ES384' ? 'P-384' : 'P-521';
    return generateKeyPairSync('ec', { namedCurve: curve });
  }
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}

function rate(ms: number, fn: (i: number) => void): number {
  let i = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let j = 0; j < 64; j++) fn(i++);
    elapsed = performance.now() - start;
  }
  return (i / elapsed) * 1000;
}

async function rateAsync(ms: number, fn: (i: number) => Promise<void>): Promise<number> {
  let i = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let j = 0; j < 16; j++) await fn(i++);
    elapsed = performance.now() - start;
  }
  return (i / elapsed) * 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function fmt(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : Math.round(n).toString();
}
