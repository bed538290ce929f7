import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadDevCa, loadOrCreateDevCa, mintX509Svid, writeSvidFiles } from '../../devca/index.js';
import { parseDuration } from '../../spiffe/duration.js';
import { SpiffeId, TrustDomain } from '../../spiffe/spiffeid/index.js';
import { signJwtSvid } from '../../spiffe/svid/jwtsvid/index.js';
import { UsageError } from '../context.js';
import { table } from '../output.js';
import type { Registrar } from '../program.js';

export function registerDevCommands(program: Command, r: Registrar): void {
  const dev = program
    .command('dev')
    .description('a development CA for trying meshbridge out (never for production)');
  dev
    .command('mint')
    .description('create (or reuse) a dev CA in DIR and mint an X.509-SVID for each --id')
    .requiredOption('--out <dir>', 'folder for the CA and the SVIDs')
    .requiredOption('--trust-domain <td>', 'the trust domain of the CA')
    .option('--id <spiffe-id>', 'an ID to mint (repeatable)', collect, [] as string[])
    .option('--ttl <seconds>', 'SVID lifetime in seconds', '3600')
    .addHelpText(
      'after',
      `
Writes DIR/ca.pem, DIR/ca.key, DIR/bundle.pem, DIR/jwt-bundle.json and, per ID,
DIR/<last path segment>.pem (leaf + chain) and DIR/<last path segment>.key.

Example:
  $ meshbridge dev mint --out certs --trust-domain example.org \\
      --id spiffe://example.org/ns/shop/sa/web --id spiffe://example.org/ns/meshbridge/sa/broker

Exit status: 0 written, 2 usage error or a CA in --out that cannot be read.`,
    )
    .action(
      r.action((ctx, opts: { out: string; trustDomain: string; id: string[]; ttl: string }) => {
        const td = TrustDomain.parse(opts.trustDomain);
        const ttl = Number(opts.ttl);
        if (!Number.isInteger(ttl) || ttl <= 0)
          throw new UsageError(`--ttl must be a positive number of seconds, got "${opts.ttl}"`);
        const ids = opts.id.map((s) => SpiffeId.parse(s));
        for (const id of ids) {
          if (!id.memberOf(td)) {
            throw new UsageError(`${id} is not in trust domain ${td.name}`, 'TRUST_DOMAIN_MISMATCH');
          }
        }
        const dir = resolve(ctx.io.cwd, opts.out);
        const { ca, created } = loadOrCreateDevCa(dir, td);
        const minted = ids.map((id) => ({
          id: id.toString(),
          ...writeSvidFiles(dir, mintX509Svid(ca, id, { ttlSeconds: ttl })),
        }));
        if (ctx.out.json) {
          ctx.out.printJson({
            trustDomain: td.name,
            caCreated: created,
            caFingerprint: ca.root.fingerprint,
            svids: minted,
          });
          return;
        }
        ctx.out.out(`${created ? 'created' : 'reused'} dev CA for ${td.name} in ${dir}`);
        if (minted.length > 0)
          ctx.out.out(
            table(
              ['SPIFFE ID', 'CERT', 'KEY'],
              minted.map((m) => [m.id, m.cert, m.key]),
            ),
          );
      }),
    );
  registerDevJwt(dev, r);
}

export function registerDevJwt(dev: Command, r: Registrar): void {
  dev
    .command('jwt')
    .description('print a JWT-SVID signed by the dev CA in DIR')
    .requiredOption('--ca <dir>', 'a folder written by `meshbridge dev mint`')
    .requiredOption('--id <spiffe-id>', 'the subject')
    .requiredOption('--audience <aud>', 'the audience (repeatable)', collect, [] as string[])
    .option('--ttl <duration>', 'lifetime, e.g. 300, 5m, 1h', '5m')
    .addHelpText(
      'after',
      `
Example:
  $ meshbridge dev jwt --ca certs --id spiffe://example.org/ns/shop/sa/web --audience meshbridge-broker

Exit status: 0 printed, 2 usage error or a CA that cannot be read.`,
    )
    .action(
      r.action((ctx, opts: { ca: string; id: string; audience: string[]; ttl: string }) => {
        const ca = loadDevCa(resolve(ctx.io.cwd, opts.ca));
        const id = SpiffeId.parse(opts.id);
        if (!id.memberOf(ca.trustDomain)) {
          throw new UsageError(
            `${id} is not in the CA's trust domain ${ca.trustDomain.name}`,
            'TRUST_DOMAIN_MISMATCH',
          );
        }
        const token = signJwtSvid({
          id,
          audience: opts.audience,
          ttl: parseDuration(opts.ttl, '--ttl'),
          key: ca.jwtKey,
          kid: ca.jwtKid,
        });
        if (ctx.out.json) ctx.out.printJson({ token });
        else ctx.out.out(token);
      }),
    );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
