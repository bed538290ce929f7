import type { Command } from 'commander';
import { loadBundle } from '../../spiffe/bundle/index.js';
import type { X509BundleSource } from '../../spiffe/bundle/source.js';
import { CodedError, SpiffeError, type Warning } from '../../spiffe/errors.js';
import { TrustDomain } from '../../spiffe/spiffeid/index.js';
import { pickLeaf, spiffeIdFromCertificate, verifyX509Svid } from '../../spiffe/svid/x509svid/index.js';
import { parseCertificates } from '../../spiffe/x509/certificate.js';
import { EXIT, exitCodeFor } from '../exit-codes.js';
import { clockAt, readInputFile } from '../inputs.js';
import { fail, pass, table, warnMark } from '../output.js';
import type { Registrar } from '../program.js';

interface SvidVerifyOptions {
  bundle: string;
  trustDomain?: string;
  at?: string;
  strict?: boolean;
}

export function registerSvidCommands(program: Command, r: Registrar): void {
  const svid = program.command('svid').description('X.509-SVID tools');
  svid
    .command('verify')
    .description('verify an X.509-SVID against a trust bundle (path validation + X509-SVID rules)')
    .argument('<file>', 'the SVID: PEM or DER, one or several certificates, leaf first or not')
    .requiredOption('--bundle <file>', 'trust bundle: PEM, DER, SPIFFE bundle (JWKS) or bundle map')
    .option('--trust-domain <td>', "the trust domain the bundle belongs to (default: the SVID's own)")
    .option('--at <iso>', 'judge validity at this instant instead of now')
    .option(
      '--strict',
      'enforce every MUST of the SPIFFE standards instead of reporting tolerated deviations as warnings',
    )
    .addHelpText(
      'after',
      `
Example:
  $ meshbridge svid verify workload.pem --bundle root-cert.pem --trust-domain cluster.local
  $ meshbridge svid verify svid.der --bundle bundle.json --at 2026-01-01T00:00:00Z --json

Exit status: 0 valid, 1 invalid (the code names the broken rule), 2 unreadable input.`,
    )
    .action(
      r.action((ctx, file: string, opts: SvidVerifyOptions) => {
        const result = verifySvidFile(ctx.io.cwd, file, opts);
        if (ctx.out.json) {
          ctx.out.printJson(publicShape(result));
        } else if (result.valid) {
          ctx.out.out(`${pass(ctx.out)} valid X.509-SVID`);
          ctx.out.out(
            table(
              ['', ''],
              [
                ['SPIFFE ID', result.spiffeId],
                ['trust domain', result.trustDomain],
                ['anchor', result.anchor],
                ...result.chain.map((fp, i) => [i === 0 ? 'chain' : '', fp]),
              ],
            ).replace(/^\s*\n/, ''),
          );
          for (const w of result.warnings)
            ctx.out.out(`${warnMark(ctx.out)} R${w.rule} ${w.message} [${w.code}]`);
        } else {
          ctx.out.out(`${fail(ctx.out)} invalid X.509-SVID: ${result.message} [${result.code}]`);
        }
        ctx.exitCode = result.valid ? EXIT.ok : result.exitCode;
      }),
    );
}

export type SvidVerifyResult =
  | {
      valid: true;
      spiffeId: string;
      trustDomain: string;
      anchor: string;
      chain: string[];
      warnings: Warning[];
    }
  | { valid: false; code: string; message: string; rule?: number; exitCode: number };

function verifySvidFile(cwd: string, file: string, opts: SvidVerifyOptions): SvidVerifyResult {
  try {
    const clock = clockAt(opts.at);
    const explicitTd = opts.trustDomain === undefined ? undefined : TrustDomain.parse(opts.trustDomain);
    const certs = parseCertificates(readInputFile(cwd, file, 'SVID file'));
    const svidTd = trustDomainOfLeaf(certs);
    const bundleTd = explicitTd ?? svidTd;
    const bundleBytes = readInputFile(cwd, opts.bundle, 'bundle file');
    // Without any trust domain to bind the bundle to, the leaf carries no SPIFFE ID:
    // verification reports that rule before it ever asks for a bundle.
    const loaded =
      bundleTd === undefined
        ? undefined
        : loadBundle(bundleBytes, { trustDomain: bundleTd, strict: opts.strict });
    const source: X509BundleSource = {
      getX509BundleForTrustDomain(td) {
        if (loaded === undefined || !loaded.trustDomain.equals(td)) {
          throw new SpiffeError(
            'TRUST_DOMAIN_MISMATCH',
            'verdict',
            `the SVID belongs to trust domain ${td.name} but the bundle is for ${loaded?.trustDomain.name ?? 'no trust domain'}`,
            { rule: 20 },
          );
        }
        return loaded.bundle.toX509Bundle();
      },
    };
    const v = verifyX509Svid(certs, source, { ...(clock ? { clock } : {}), strict: opts.strict === true });
    return {
      valid: true,
      spiffeId: v.id.toString(),
      trustDomain: v.trustDomain.name,
      anchor: v.anchor.fingerprint,
      chain: v.chain.map((c) => c.fingerprint),
      warnings: [...(loaded?.warnings ?? []), ...v.warnings],
    };
  } catch (err) {
    if (!(err instanceof CodedError) || err.category === 'internal') throw err;
    return {
      valid: false,
      code: err.code,
      message: err.message,
      ...(err.rule === undefined ? {} : { rule: err.rule }),
      exitCode: exitCodeFor(err.category),
    };
  }
}

/** Drops the exit code: scripts read it from the process, not the JSON. */
export function publicShape<T extends { valid: boolean }>(result: T): Omit<T, 'exitCode'> {
  const { exitCode: _exitCode, ...rest } = result as T & { exitCode?: number };
  return rest;
}

function trustDomainOfLeaf(certs: ReturnType<typeof parseCertificates>): TrustDomain | undefined {
  if (certs.length === 0) return undefined;
  try {
    return spiffeIdFromCertificate(certs[pickLeaf(certs)]!).trustDomain;
  } catch {
    return undefined;
  }
}
