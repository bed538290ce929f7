/**
 * The connection simulation: for every edge (client -> server) and every phase, the
 * two checks a mutual-TLS handshake makes — the server's certificate against the
 * client's bundle, the client's certificate against the server's bundle — with the
 * kernel. A broken edge names the side, the certificate and the kernel's code. This is
 * what makes removing a root safe: simulate `spiffe-only` before rolling it out.
 */
import type { X509BundleSource } from '../spiffe/bundle/source.js';
import type { Clock } from '../spiffe/errors.js';
import { VerificationCache } from '../spiffe/svid/x509svid/index.js';
import type { Certificate } from '../spiffe/x509/certificate.js';
import type { Edge } from './edges.js';
import { type PeerVerdict, verifyPeer, workloadKeyOf } from './peer.js';
import type { Phase } from './phases.js';

export interface SimWorkload {
  /** `workloadKeyOf(identity)`: what edges are matched by. */
  key: string;
  /** The identity of the certificate it presents. */
  identity: string;
  /** Leaf and intermediates it presents. */
  chain: readonly Certificate[];
  /** Its scope (`istio/east/payments`), when the caller gives per-scope bundles. */
  scope?: string;
}

export type Direction = 'client-verifies-server' | 'server-verifies-client';

export interface BrokenEdge {
  source: string;
  destination: string;
  direction: Direction;
  /** The workload whose certificate failed. */
  presenter: string;
  /** The workload whose bundle refused it. */
  verifier: string;
  fingerprint: string;
  code: string;
  message: string;
}

export interface PhaseSimulation {
  phase: Phase;
  edges: number;
  broken: BrokenEdge[];
}

export interface SimulationReport {
  phases: PhaseSimulation[];
  /** Edge ends with no known certificate: they cannot be judged (not counted as broken). */
  unknown: { identity: string; edges: number }[];
}

export interface SimulateOptions {
  phases: readonly Phase[];
  workloads: Iterable<SimWorkload>;
  /** The trust `workload` holds in `phase` (its scope's bundle). */
  trustFor: (workload: SimWorkload, phase: Phase) => X509BundleSource;
  /** The chain `workload` presents in `phase` (default: `workload.chain`). */
  presentedIn?: (workload: SimWorkload, phase: Phase) => readonly Certificate[];
  clock?: Clock;
  cache?: VerificationCache;
}

export function simulate(edges: readonly Edge[], opts: SimulateOptions): SimulationReport {
  const byKey = new Map<string, SimWorkload>();
  for (const w of opts.workloads) byKey.set(w.key, w);
  const cache = opts.cache ?? new VerificationCache(100_000);
  const vopts = { cache, ...(opts.clock ? { clock: opts.clock } : {}) };
  const memo = new WeakMap<X509BundleSource, Map<string, PeerVerdict>>();
  const judge = (chain: readonly Certificate[], source: X509BundleSource): PeerVerdict => {
    let m = memo.get(source);
    if (m === undefined) {
      m = new Map();
      memo.set(source, m);
    }
    const key = chain.map((c) => c.fingerprint).join(':');
    let v = m.get(key);
    if (v === undefined) {
      v = verifyPeer(chain, source, vopts);
      m.set(key, v);
    }
    return v;
  };

  const unknown = new Map<string, number>();
  const resolved: { edge: Edge; client: SimWorkload; server: SimWorkload }[] = [];
  for (const edge of edges) {
    const client = byKey.get(workloadKeyOf(edge.source));
    const server = byKey.get(workloadKeyOf(edge.destination));
    if (client === undefined) unknown.set(edge.source, (unknown.get(edge.source) ?? 0) + 1);
    if (server === undefined) unknown.set(edge.destination, (unknown.get(edge.destination) ?? 0) + 1);
    if (client !== undefined && server !== undefined) resolved.push({ edge, client, server });
  }

  const phases: PhaseSimulation[] = opts.phases.map((phase) => {
    const broken: BrokenEdge[] = [];
    const presented = (w: SimWorkload) => opts.presentedIn?.(w, phase) ?? w.chain;
    for (const { edge, client, server } of resolved) {
      const checks: [Direction, SimWorkload, SimWorkload][] = [
        ['client-verifies-server', server, client],
        ['server-verifies-client', client, server],
      ];
      for (const [direction, presenter, verifier] of checks) {
        const chain = presented(presenter);
        const v = judge(chain, opts.trustFor(verifier, phase));
        if (v.valid) continue;
        broken.push({
          source: edge.source,
          destination: edge.destination,
          direction,
          presenter: presenter.identity,
          verifier: verifier.identity,
          fingerprint: v.leaf.fingerprint,
          code: v.code,
          message: v.message,
        });
      }
    }
    return { phase, edges: resolved.length, broken };
  });
  return {
    phases,
    unknown: [...unknown]
      .map(([identity, n]) => ({ identity, edges: n }))
      .sort((a, b) => (a.identity < b.identity ? -1 : 1)),
  };
}

/**
 * The workloads of a set of presented chains, one per workload key: the chain whose leaf
 * is valid at `now` and was issued last wins (a re-issued workload presents its newest
 * certificate).
 */
export function workloadsFromChains(
  chains: Iterable<{ chain: readonly Certificate[]; identity: string; scope?: string }>,
  now: Date,
): SimWorkload[] {
  const best = new Map<string, SimWorkload>();
  const t = now.getTime();
  for (const c of chains) {
    const leaf = c.chain[0]!;
    const key = workloadKeyOf(c.identity);
    const current = best.get(key);
    const candidate: SimWorkload = {
      key,
      identity: c.identity,
      chain: c.chain,
      ...(c.scope === undefined ? {} : { scope: c.scope }),
    };
    if (current === undefined) {
      best.set(key, candidate);
      continue;
    }
    const cur = current.chain[0]!;
    const live = (x: Certificate) => x.notBefore.getTime() <= t && t <= x.notAfter.getTime();
    if (live(leaf) !== live(cur)) {
      if (live(leaf)) best.set(key, candidate);
      continue;
    }
    if (leaf.notBefore.getTime() > cur.notBefore.getTime()) best.set(key, candidate);
  }
  return [...best.values()];
}
