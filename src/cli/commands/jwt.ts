import type { Command } from 'commander';
import { loadBundle } from '../../spiffe/bundle/index.js';
import type { JwtBundleSource } from '../../spiffe/bundle/source.js';
import { CodedError, SpiffeError } from '../../spiffe/errors.js';
import { TrustDomain } from '../../spiffe/spiffeid/index.js';
import { parseInsecure, verifyJwtSvid } from '../../spiffe/svid/jwtsvid/index.js';
import { readAll } from '../context.js';
import { EXIT, exitCodeFor } from '../exit-codes.js';
import { clockAt, readInputFile } from '../inputs.js';
import { fail, pass } from '../output.js';
import type { Registrar } from '../program.js';
import { publicShape } from './svid.js';

interface JwtVerifyOptions {
  bundle: string;
  audience: string;
  trustDomain?: string;
  at?: string;
}

export type JwtVerifyResult =
  | { valid: true; spiffeId: string; audience: string[]; expiresAt: string }
  | { valid: false; code: string; message: string; rule?: number; exitCode: number };

export function registerJwtCommands(program: Command, r: Registrar): void {
  const jwt = program.command('jwt').description('JWT-SVID tools');
  jwt
    .command('verify')
    .description('verify a JWT-SVID: algorithm, signature, subject, audience, expiry (JWT-SVID.md)')
    .argument('<token>', 'the compact JWS, or "-" to read it from stdin')
    .requiredOption(
      '--bundle <file>',
      'SPIFFE bundle or plain JWKS (keys without "use" are JWT authorities there)',
    )
    .requiredOption('--audience <aud>', 'the audience this verifier expects; the token must name it')
    .option('--trust-domain <td>', "the trust domain the bundle belongs to (default: the token's subject's)")
    .option('--at <iso>', 'judge expiry at this instant instead of now')
    .addHelpText(
      'after',
      `
Example:
  $ meshbridge jwt verify "$TOKEN" --bundle jwt-bundle.json --audience orders-db
  $ meshbridge dev jwt --ca certs --id spiffe://example.org/web --audience broker | meshbridge jwt verify - --bundle certs/jwt-bundle.json --audience broker --json

Exit status: 0 valid, 1 invalid (alg none/HMAC, wrong audience, expired, ...), 2 unreadable input.`,
    )
    .action(
      r.action(async (ctx, tokenArg: string, opts: JwtVerifyOptions) => {
        const token =
          tokenArg === '-' ? (await readAll(ctx.io.stdin)).toString('utf8').trim() : tokenArg.trim();
        const result = verifyJwtInput(ctx.io.cwd, token, opts);
        if (ctx.out.json) ctx.out.printJson(publicShape(result));
        else if (result.valid) {
          ctx.out.out(`${pass(ctx.out)} valid JWT-SVID for ${result.spiffeId}`);
          ctx.out.out(`  audience  ${result.audience.join(', ')}`);
          ctx.out.out(`  expires   ${result.expiresAt}`);
        } else ctx.out.out(`${fail(ctx.out)} invalid JWT-SVID: ${result.message} [${result.code}]`);
        ctx.exitCode = result.valid ? EXIT.ok : result.exitCode;
      }),
    );
}

function verifyJwtInput(cwd: string, token: string, opts: JwtVerifyOptions): JwtVerifyResult {
  try {
    const clock = clockAt(opts.at);
    const explicitTd = opts.trustDomain === undefined ? undefined : TrustDomain.parse(opts.trustDomain);
    const bundleBytes = readInputFile(cwd, opts.bundle, 'bundle file');
    // R44: the algorithm and shape are judged before anything else; a token that
    // fails here never reaches the bundle.
    const subjectTd = parseInsecure(token).id.trustDomain;
    const loaded = loadBundle(bundleBytes, { trustDomain: explicitTd ?? subjectTd });
    const source: JwtBundleSource = {
      getJwtBundleForTrustDomain(td) {
        if (!loaded.trustDomain.equals(td)) {
          throw new SpiffeError(
            'TRUST_DOMAIN_MISMATCH',
            'verdict',
            `the token's subject is in trust domain ${td.name} but the bundle is for ${loaded.trustDomain.name}`,
            { rule: 50 },
          );
        }
        return loaded.bundle.toJwtBundle();
      },
    };
    const v = verifyJwtSvid(token, source, { audience: opts.audience, ...(clock ? { clock } : {}) });
    return {
      valid: true,
      spiffeId: v.id.toString(),
      audience: v.audience,
      expiresAt: v.expiresAt.toISOString(),
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
