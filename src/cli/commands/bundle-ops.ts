/**
 * `meshbridge bundle build|verify|simulate|fetch`: dual-trust bundles from what the
 * store holds, the dry run, the connection simulation, and the federation client.
 * Registered on the existing `bundle` command by `registerBundleOps(bundle, r)`.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { writeFileAtomic } from '../../devca/files.js';
import {
  ALL_SCOPE,
  type Artifact,
  BUNDLE_PHASES,
  bundleForPhase,
  type DryRunCandidate,
  dryRun,
  emitBundle,
  FORMATS,
  fetchFederatedBundle,
  identityOf,
  type Phase,
  parseBundleFormat,
  parseEdges,
  parsePhase,
  parseScope,
  pooledTrustOfPhase,
  readBundleArtifact,
  type SimWorkload,
  simulate,
  type TrustSet,
  trustOfPhase,
  verdictError,
  workloadKeyOf,
  workloadsFromChains,
} from '../../dual-trust/index.js';
import { loadBundle } from '../../spiffe/bundle/load.js';
import type { SpiffeBundle } from '../../spiffe/bundle/spiffebundle.js';
import { systemClock, type Warning } from '../../spiffe/errors.js';
import { parseCertificates } from '../../spiffe/x509/certificate.js';
import { publishBundleVersion, saveTrustRoots } from '../../store/dual-trust-repo.js';
import { type CommandContext, UsageError } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { clockAt, readInputFile } from '../inputs.js';
import { fail, pass, table, warnMark } from '../output.js';
import type { Registrar } from '../program.js';
import { composeFromStore, inventoriedChains, overlapOption, withStore } from './bundle-trust.js';

const collect = (v: string, prev: string[]) => [...prev, v];
/** Rows `bundle verify` prints for people before it shows failures only. */
const MAX_ROWS = 100;

interface BuildOptions {
  format: string;
  scope?: string;
  trustDomain?: string;
  out?: string;
  phase: string;
  overlap?: string;
  allowExpiring?: boolean;
  at?: string;
  namespace: string[];
  cacerts?: string;
  spireTrustDomain?: string;
  meshTrustDomain?: string;
  dryRun?: boolean;
}

interface VerifyOptions {
  bundle: string;
  inventory?: boolean;
  scope?: string;
  trustDomain?: string;
  current?: string;
  currentPhase: string;
  at?: string;
  meshTrustDomain?: string;
}

interface SimulateOptions {
  edges: string;
  phase: string[];
  certs: string[];
  scope?: string;
  at?: string;
  overlap?: string;
  allowExpiring?: boolean;
  meshTrustDomain?: string;
}

interface FetchOptions {
  trustDomain: string;
  profile: string;
  endpointId?: string;
  endpointBundle?: string;
  ca?: string;
  previous?: string;
  out?: string;
  save?: boolean;
  at?: string;
}

export function registerBundleOps(bundle: Command, r: Registrar): void {
  bundle
    .command('build')
    .description("build the dual-trust bundle of a phase from what the store holds, in a mesh's own format")
    .requiredOption('--format <fmt>', FORMATS.join(' | '))
    .option('--scope <scope>', 'mesh[/cluster[/namespace]] whose anchors to take (default: everything)')
    .option('--trust-domain <td>', 'only this trust domain (per-trust-domain formats: spiffe, pem)')
    .option('--out <file|dir>', 'write here (a folder for formats with several files) instead of stdout')
    .option('--phase <phase>', `the phase to build for: ${BUNDLE_PHASES.join(', ')}`, 'dual-trust')
    .option('--overlap <duration>', 'planned overlap window; roots expiring inside it are refused', '30d')
    .option('--allow-expiring', 'keep expired roots and roots expiring inside the overlap (warned)')
    .option('--at <iso>', 'judge expiry at this instant instead of now')
    .option(
      '--namespace <ns>',
      'namespace of the emitted object (istio-root-configmap: repeatable)',
      collect,
      [],
    )
    .option(
      '--cacerts <file>',
      'istio-cacerts: the current cacerts Secret, whose other keys are carried over',
    )
    .option(
      '--spire-trust-domain <td>',
      "spire: SPIRE's own trust domain (default: the one its roots were synced for)",
    )
    .option('--mesh-trust-domain <td>', 'trust domain for mesh anchors no inventoried workload chains to')
    .option('--dry-run', 'do not record the spiffe_sequence (preview)')
    .addHelpText(
      'after',
      `
Formats: pem (concatenated roots), spiffe (SPIFFE bundle JWKS per trust domain),
istio-cacerts (cacerts Secret, multi-root root-cert.pem), istio-mesh-config
(meshConfig.caCertificates), istio-root-configmap (istio-ca-root-cert), linkerd
(linkerd-identity-trust-roots ConfigMap + Helm identityTrustAnchorsPEM), spire
(bundle set input + UpstreamAuthority "disk" bundle), trust-manager (Bundle).
Every format comes from the same composition; spiffe_sequence grows when the
content of a trust domain's bundle changes.

Examples:
  $ meshbridge bundle build --format istio-cacerts --cacerts cacerts.yaml --out cacerts.new.yaml
  $ meshbridge bundle build --format linkerd --out ./rollout/
  $ meshbridge bundle build --format spiffe --trust-domain cluster.local --phase spiffe-only

Exit status: 0 built, 1 refused (expired or expiring roots, or no roots at all), 2 usage or input error.`,
    )
    .action(r.action((ctx, opts: BuildOptions) => runBuild(ctx, opts)));

  bundle
    .command('verify')
    .description(
      'dry run: verify certificates against a bundle, and fail when one that works today would break',
    )
    .requiredOption(
      '--bundle <file>',
      'the bundle to judge: any format bundle build writes, PEM or SPIFFE JSON',
    )
    .argument('[certs...]', 'certificate files (leaf first, then intermediates) to verify')
    .option('--inventory', 'also verify every inventoried workload certificate')
    .option('--scope <scope>', 'mesh[/cluster[/namespace]] of the inventoried workloads (default: all)')
    .option(
      '--trust-domain <td>',
      'the trust domain a lone SPIFFE bundle or PEM file belongs to (default: pooled)',
    )
    .option('--current <file>', "today's bundle (default: the stored trust of --current-phase)")
    .option('--current-phase <phase>', "the phase whose stored trust is today's", 'inventoried')
    .option('--mesh-trust-domain <td>', 'trust domain for mesh anchors no inventoried workload chains to')
    .option('--at <iso>', 'judge validity at this instant instead of now')
    .addHelpText(
      'after',
      `
JSON: {"total","valid","invalid","results":[{"source","fingerprint","spiffeId"|"meshIdentity","valid","code"?}]}

Examples:
  $ meshbridge bundle verify --bundle rollout/bundle.pem --inventory --scope istio/east
  $ meshbridge bundle verify --bundle bundle.spiffe.json --trust-domain cluster.local workload.pem intermediate.pem

Exit status: 0 nothing that verifies today would stop verifying, 1 something would,
2 usage or input error.`,
    )
    .action(r.action((ctx, certs: string[], opts: VerifyOptions) => runVerify(ctx, certs, opts)));

  bundle
    .command('simulate')
    .description('simulate every mTLS handshake of an edge list, per phase, in both directions')
    .requiredOption(
      '--edges <file>',
      'YAML/CSV edge list (source, destination), a Kiali graph or an Istio telemetry export',
    )
    .option(
      '--phase <phase>',
      `phase to simulate (repeatable; default: ${BUNDLE_PHASES.join(', ')})`,
      collect,
      [],
    )
    .option(
      '--certs <file>',
      'a certificate a workload presents (leaf first; repeatable); overrides the inventory',
      collect,
      [],
    )
    .option('--scope <scope>', 'mesh[/cluster[/namespace]] whose trust and workloads to take')
    .option('--overlap <duration>', 'planned overlap window', '30d')
    .option('--allow-expiring', 'keep expired roots and roots expiring inside the overlap')
    .option('--mesh-trust-domain <td>', 'trust domain for mesh anchors no inventoried workload chains to')
    .option('--at <iso>', 'judge validity at this instant instead of now')
    .addHelpText(
      'after',
      `
Each workload presents its newest valid certificate (inventory, or --certs) and trusts
the bundle of the phase. Edges are matched to workloads by ns/<ns>/sa/<sa> whatever
the trust domain or identity format.

Examples:
  $ meshbridge bundle simulate --edges kiali-graph.json --scope istio/east
  $ meshbridge bundle simulate --edges edges.csv --phase spiffe-only --overlap 14d --json

Exit status: 0 no edge breaks in any simulated phase, 1 some edge breaks, 2 usage error.`,
    )
    .action(r.action((ctx, opts: SimulateOptions) => runSimulate(ctx, opts)));

  bundle
    .command('fetch')
    .description('fetch a federated bundle from a SPIFFE bundle endpoint and check it')
    .argument('<url>', 'the bundle endpoint URL (https)')
    .requiredOption('--trust-domain <td>', 'the trust domain the endpoint serves (never taken from the URL)')
    .option('--profile <profile>', 'https_web | https_spiffe', 'https_web')
    .option('--endpoint-id <spiffe-id>', 'https_spiffe: the SPIFFE ID the endpoint must present')
    .option('--endpoint-bundle <file>', "https_spiffe: bundle of the endpoint's trust domain")
    .option('--ca <file>', 'https_web: CA certificates to trust instead of the system store')
    .option('--previous <file>', 'the bundle held so far (sequence may not go backwards)')
    .option('--out <file>', 'write the bundle here instead of stdout')
    .option('--save', 'store it as the federated roots of the trust domain')
    .option('--at <iso>', 'judge validity at this instant instead of now')
    .addHelpText(
      'after',
      `
Examples:
  $ meshbridge bundle fetch https://spire.partner.example/bundle --trust-domain partner.example --save
  $ meshbridge bundle fetch https://10.0.0.5:8443 --trust-domain partner.example --profile https_spiffe \
      --endpoint-id spiffe://partner.example/spire/server --endpoint-bundle partner-bundle.json --out partner.json

Exit status: 0 fetched and checked, 1 refused (tampered, wrong trust domain, sequence
going backwards, untrusted TLS), 2 usage error, 3 endpoint unreachable.`,
    )
    .action(r.action((ctx, url: string, opts: FetchOptions) => runFetch(ctx, url, opts)));
}

// ---------------------------------------------------------------- build

async function runBuild(ctx: CommandContext, opts: BuildOptions): Promise<void> {
  const format = parseBundleFormat(opts.format);
  const phase = parsePhase(opts.phase, '--phase');
  const scope = parseScope(opts.scope);
  const clock = clockAt(opts.at) ?? systemClock;
  const cacertsBase =
    opts.cacerts === undefined
      ? undefined
      : (parseYaml(readInputFile(ctx.io.cwd, opts.cacerts, 'cacerts Secret').toString('utf8')) as Record<
          string,
          unknown
        >);
  const { bundle, warnings } = await withStore(ctx, async (store) => {
    const trust = await composeFromStore(store, {
      scope,
      clock,
      ...(opts.overlap === undefined ? {} : { overlapSeconds: overlapOption(opts.overlap)! }),
      allowExpiring: opts.allowExpiring === true,
      ...(opts.meshTrustDomain === undefined ? {} : { meshTrustDomain: opts.meshTrustDomain }),
    });
    let pb = bundleForPhase(
      trust.composition,
      phase,
      opts.trustDomain === undefined ? {} : { trustDomain: opts.trustDomain },
    );
    // Refused before anything is published: rolled out, an empty bundle trusts nothing.
    if (pb.trustDomains.every((td) => td.roots.length === 0 && td.jwtKeys.length === 0))
      throw verdictError(
        'BUNDLE_NO_ROOTS',
        `no trust roots for phase ${phase}${scope.name === ALL_SCOPE.name ? '' : ` in scope ${scope.name}`}${opts.trustDomain === undefined ? '' : ` of trust domain ${opts.trustDomain}`}: an empty bundle would break every connection; import the mesh's CA material (meshbridge import) or sync SPIRE's bundle (meshbridge spire sync) first`,
      );
    const sequences = new Map<string, bigint>();
    for (const td of pb.trustDomains) {
      if (opts.dryRun) continue;
      const published = await publishBundleVersion(
        store,
        {
          scope: scope.name,
          trustDomain: td.name,
          digest: td.digest,
          phase,
          roots: td.roots.map((x) => x.fingerprint),
        },
        { clock },
      );
      sequences.set(td.name, published.sequence);
    }
    pb = {
      ...pb,
      trustDomains: pb.trustDomains.map((td) => ({ ...td, sequence: sequences.get(td.name) ?? td.sequence })),
    };
    return { bundle: pb, warnings: trust.warnings };
  });
  const namespaces =
    opts.namespace.length > 0 ? opts.namespace : scope.namespace !== undefined ? [scope.namespace] : [];
  const artifacts = emitBundle(bundle, format, {
    ...(opts.trustDomain === undefined ? {} : { trustDomain: opts.trustDomain }),
    ...(namespaces.length === 1 ? { namespace: namespaces[0]! } : {}),
    ...(namespaces.length > 0 ? { namespaces } : {}),
    ...(cacertsBase === undefined ? {} : { cacertsBase }),
    ...(opts.spireTrustDomain === undefined ? {} : { spireTrustDomain: opts.spireTrustDomain }),
  });
  const written = writeArtifacts(ctx, artifacts, opts.out);
  if (ctx.out.json) {
    ctx.out.printJson({
      format,
      phase,
      scope: scope.name,
      trustDomains: bundle.trustDomains.map((td) => ({
        name: td.name,
        sequence: td.sequence,
        digest: td.digest,
        roots: td.roots.map((x) => ({
          fingerprint: x.fingerprint,
          subject: x.subject,
          origins: x.origins,
          notAfter: x.notAfter.toISOString(),
          entersAt: x.entersAt,
          leavesAt: x.leavesAt,
          sources: x.sources,
        })),
        jwtKeys: td.jwtKeys.map((k) => k.kid),
      })),
      artifacts: artifacts.map((a, i) => ({
        name: a.name,
        description: a.description,
        ...(written[i] === undefined ? { content: a.content } : { path: written[i] }),
      })),
      warnings: warnings.map(warningJson),
    });
    return;
  }
  const say = (line: string) => (opts.out === undefined ? ctx.out.err(line) : ctx.out.out(line));
  for (const w of warnings) say(`${warnMark(ctx.out)} ${w.message} [${w.code}]`);
  for (const td of bundle.trustDomains) {
    say(
      `${pass(ctx.out)} ${td.name}: ${td.roots.length} root(s) for phase ${phase} (${td.roots.map((x) => `${x.origins.join('+')} ${x.subject || '<empty>'}`).join('; ') || 'trusts nothing'}), spiffe_sequence ${td.sequence}`,
    );
  }
  artifacts.forEach((a, i) => {
    if (written[i] !== undefined) say(`  wrote ${written[i]}: ${a.description}`);
  });
}

/** Writes artifacts; returns the paths written (index-aligned), or prints the one artifact to stdout. */
function writeArtifacts(
  ctx: CommandContext,
  artifacts: Artifact[],
  out: string | undefined,
): (string | undefined)[] {
  if (out === undefined) {
    if (ctx.out.json) return artifacts.map(() => undefined);
    if (artifacts.length !== 1) {
      throw new UsageError(
        `this format writes ${artifacts.length} files (${artifacts.map((a) => a.name).join(', ')}); give --out DIR`,
        'USAGE_OUT_REQUIRED',
      );
    }
    ctx.io.stdout.write(artifacts[0]!.content);
    return [undefined];
  }
  const target = resolve(ctx.io.cwd, out);
  const isDir =
    out.endsWith('/') || (existsSync(target) && statSync(target).isDirectory()) || artifacts.length > 1;
  if (isDir) {
    mkdirSync(target, { recursive: true });
    return artifacts.map((a) => {
      const path = join(target, a.name);
      writeFileAtomic(path, a.content);
      return path;
    });
  }
  writeFileAtomic(target, artifacts[0]!.content);
  return [target];
}

// ---------------------------------------------------------------- verify (dry run)

async function runVerify(ctx: CommandContext, certFiles: string[], opts: VerifyOptions): Promise<void> {
  const clock = clockAt(opts.at) ?? systemClock;
  const scope = parseScope(opts.scope);
  const currentPhase = parsePhase(opts.currentPhase, '--current-phase');
  const artifact = readBundleArtifact(
    readInputFile(ctx.io.cwd, opts.bundle, 'bundle file'),
    opts.trustDomain === undefined ? {} : { trustDomain: opts.trustDomain },
  );
  if (!opts.inventory && certFiles.length === 0) {
    throw new UsageError('nothing to verify: give --inventory and/or certificate files');
  }
  const candidates: DryRunCandidate[] = [];
  for (const f of certFiles) {
    const chain = parseCertificates(readInputFile(ctx.io.cwd, f, 'certificate file'));
    if (chain.length === 0) throw new UsageError(`${f} holds no certificate`, 'INPUT_NO_CERTIFICATES');
    candidates.push({ source: f, chain });
  }
  let current: TrustSet | undefined;
  if (opts.current !== undefined) {
    current = readBundleArtifact(readInputFile(ctx.io.cwd, opts.current, 'current bundle file')).trust;
  }
  if (opts.inventory || current === undefined) {
    await withStore(ctx, async (store) => {
      if (opts.inventory) {
        for (const c of await inventoriedChains(store, scope))
          candidates.push({ source: c.source, chain: c.chain });
      }
      if (current === undefined) {
        const trust = await composeFromStore(store, {
          scope,
          clock,
          allowExpiring: true,
          ...(opts.meshTrustDomain === undefined ? {} : { meshTrustDomain: opts.meshTrustDomain }),
        });
        // Today's trust as the data planes load it: the phase's roots, pooled.
        current = pooledTrustOfPhase(bundleForPhase(trust.composition, currentPhase));
      }
    });
  }
  const report = dryRun(candidates, { bundle: artifact.trust, ...(current ? { current } : {}), clock });
  ctx.exitCode = report.breaks.length > 0 ? EXIT.negative : EXIT.ok;
  if (ctx.out.json) {
    ctx.out.printJson({
      total: report.total,
      valid: report.valid,
      invalid: report.invalid,
      results: report.results,
    });
    return;
  }
  // Every row for small runs; for large ones (a whole inventory) only the failures, capped.
  const shown =
    report.results.length <= MAX_ROWS
      ? report.results
      : report.results.filter((x) => !x.valid).slice(0, MAX_ROWS);
  if (shown.length < report.results.length) {
    ctx.out.out(
      `showing ${shown.length} of ${report.invalid} invalid certificate(s); --json lists every result`,
    );
  }
  ctx.out.out(
    table(
      ['', 'IDENTITY', 'SOURCE', 'CODE'],
      shown.map((res) => [
        res.valid ? pass(ctx.out) : fail(ctx.out),
        ('spiffeId' in res ? res.spiffeId : res.meshIdentity) ?? `sha256:${res.fingerprint.slice(0, 16)}`,
        res.source,
        res.code ?? '',
      ]),
    ),
  );
  ctx.out.out('');
  ctx.out.out(
    `${report.total} certificate(s): ${report.valid} valid, ${report.invalid} invalid against ${opts.bundle}`,
  );
  if (report.breaks.length === 0) {
    ctx.out.out(`${pass(ctx.out)} nothing that verifies today would stop verifying`);
    return;
  }
  ctx.out.out(
    `${fail(ctx.out)} ${report.breaks.length} certificate(s) that verify today would stop verifying:`,
  );
  for (const b of report.breaks)
    ctx.out.out(`  ${b.identity ?? b.fingerprint} (${b.source}): ${b.message} [${b.code}]`);
}

// ---------------------------------------------------------------- simulate

async function runSimulate(ctx: CommandContext, opts: SimulateOptions): Promise<void> {
  const clock = clockAt(opts.at) ?? systemClock;
  const scope = parseScope(opts.scope);
  const phases: Phase[] =
    opts.phase.length > 0 ? opts.phase.map((p) => parsePhase(p, '--phase')) : [...BUNDLE_PHASES];
  const edges = parseEdges(readInputFile(ctx.io.cwd, opts.edges, 'edge list'), opts.edges);
  const explicit: SimWorkload[] = [];
  for (const f of opts.certs) {
    const chain = parseCertificates(readInputFile(ctx.io.cwd, f, 'certificate file'));
    const leaf = chain[0];
    const id = leaf === undefined ? undefined : identityOf(leaf);
    if (id === undefined)
      throw new UsageError(`${f}: the first certificate carries no workload identity`, 'INPUT_NO_IDENTITY');
    const identity = id.kind === 'spiffe' ? id.spiffeId : id.meshIdentity;
    explicit.push({ key: workloadKeyOf(identity), identity, chain });
  }
  const { bundles, workloads } = await withStore(ctx, async (store) => {
    const trust = await composeFromStore(store, {
      scope,
      clock,
      ...(opts.overlap === undefined ? {} : { overlapSeconds: overlapOption(opts.overlap)! }),
      allowExpiring: opts.allowExpiring === true,
      ...(opts.meshTrustDomain === undefined ? {} : { meshTrustDomain: opts.meshTrustDomain }),
    });
    const byPhase = new Map<Phase, TrustSet>(
      phases.map((p) => [p, trustOfPhase(bundleForPhase(trust.composition, p))]),
    );
    const chains = await inventoriedChains(store, scope);
    return { bundles: byPhase, workloads: workloadsFromChains(chains, clock()) };
  });
  const all = new Map(workloads.map((w) => [w.key, w]));
  for (const w of explicit) all.set(w.key, w);
  const report = simulate(edges.edges, {
    phases,
    workloads: all.values(),
    trustFor: (_w, phase) => bundles.get(phase)!,
    clock,
  });
  const brokenTotal = report.phases.reduce((n, p) => n + p.broken.length, 0);
  ctx.exitCode = brokenTotal > 0 ? EXIT.negative : EXIT.ok;
  if (ctx.out.json) {
    ctx.out.printJson({ ...report, unresolved: edges.unresolved });
    return;
  }
  for (const p of report.phases) {
    if (p.broken.length === 0) {
      ctx.out.out(`${pass(ctx.out)} ${p.phase}: all ${p.edges} edge(s) keep working`);
      continue;
    }
    ctx.out.out(`${fail(ctx.out)} ${p.phase}: ${p.broken.length} failing check(s) on ${p.edges} edge(s)`);
    ctx.out.out(
      table(
        ['  EDGE', 'WHO FAILS', 'REJECTED BY', 'CODE'],
        p.broken.map((b) => [
          `  ${b.source} -> ${b.destination}`,
          `${b.presenter} (${b.direction === 'client-verifies-server' ? 'server cert' : 'client cert'})`,
          b.verifier,
          b.code,
        ]),
      ),
    );
  }
  for (const u of report.unknown)
    ctx.out.out(
      `${warnMark(ctx.out)} no certificate known for ${u.identity} (${u.edges} edge(s) not judged)`,
    );
  for (const u of edges.unresolved)
    ctx.out.out(`${warnMark(ctx.out)} edge ${u.source} -> ${u.destination} not judged: ${u.reason}`);
}

// ---------------------------------------------------------------- fetch

async function runFetch(ctx: CommandContext, url: string, opts: FetchOptions): Promise<void> {
  if (opts.profile !== 'https_web' && opts.profile !== 'https_spiffe') {
    throw new UsageError(`--profile must be https_web or https_spiffe, got "${opts.profile}"`);
  }
  const clock = clockAt(opts.at);
  let bundleSource: TrustSet | undefined;
  if (opts.endpointBundle !== undefined) {
    bundleSource = readBundleArtifact(
      readInputFile(ctx.io.cwd, opts.endpointBundle, 'endpoint bundle'),
    ).trust;
  }
  let previous: SpiffeBundle | undefined;
  if (opts.previous !== undefined) {
    previous = loadBundle(readInputFile(ctx.io.cwd, opts.previous, 'previous bundle'), {
      trustDomain: opts.trustDomain,
    }).bundle;
  }
  const fetched = await fetchFederatedBundle(url, {
    profile: opts.profile,
    trustDomain: opts.trustDomain,
    ...(opts.endpointId === undefined ? {} : { endpointSpiffeId: opts.endpointId }),
    ...(bundleSource === undefined ? {} : { bundleSource }),
    ...(opts.ca === undefined ? {} : { ca: readInputFile(ctx.io.cwd, opts.ca, 'CA file') }),
    ...(previous === undefined ? {} : { previous }),
    ...(clock === undefined ? {} : { clock }),
  });
  const b = fetched.bundle;
  let saved: { added: number; removed: number; kept: number } | undefined;
  if (opts.save) {
    saved = await withStore(ctx, (store) =>
      saveTrustRoots(store, {
        origin: 'federated',
        trustDomain: b.trustDomain.name,
        source: url,
        rows: [
          ...b.x509Authorities.map((c) => ({
            kind: 'x509-svid' as const,
            keyId: c.fingerprint,
            material: Buffer.from(c.der).toString('base64'),
            subject: c.subject,
            notBefore: c.notBefore.toISOString(),
            notAfter: c.notAfter.toISOString(),
          })),
          ...b.jwtAuthorities.map((a) => ({
            kind: 'jwt-svid' as const,
            keyId: a.kid,
            material: JSON.stringify(a.jwk),
          })),
        ],
        sourceSequence: b.sequenceNumber?.toString() ?? null,
        refreshHint: b.refreshHint ?? null,
      }),
    );
  }
  const text = `${b.marshal({ indent: 2 })}\n`;
  if (opts.out !== undefined) writeFileAtomic(resolve(ctx.io.cwd, opts.out), text);
  if (ctx.out.json) {
    ctx.out.printJson({
      trustDomain: b.trustDomain.name,
      url: fetched.url,
      endpointSpiffeId: fetched.endpointSpiffeId ?? null,
      sequence: b.sequenceNumber ?? null,
      refreshHint: b.refreshHint ?? null,
      x509Authorities: b.x509Authorities.map((c) => c.fingerprint),
      jwtAuthorities: b.jwtAuthorities.map((a) => a.kid),
      ...(saved === undefined ? {} : { saved }),
      warnings: fetched.warnings.map(warningJson),
    });
    return;
  }
  if (opts.out === undefined) ctx.io.stdout.write(text);
  const say = (line: string) => (opts.out === undefined ? ctx.out.err(line) : ctx.out.out(line));
  for (const w of fetched.warnings) say(`${warnMark(ctx.out)} ${w.message} [${w.code}]`);
  say(
    `${pass(ctx.out)} ${b.trustDomain.name}: ${b.x509Authorities.length} X.509 authorit(ies), ${b.jwtAuthorities.length} JWT key(s), spiffe_sequence ${b.sequenceNumber ?? '-'} from ${fetched.url}`,
  );
  if (saved)
    say(
      `  stored as federated roots: ${saved.added} added, ${saved.removed} removed, ${saved.kept} unchanged`,
    );
}

function warningJson(w: Warning): { code: string; message: string } {
  return { code: w.code, message: w.message };
}
