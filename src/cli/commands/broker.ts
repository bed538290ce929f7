import { resolve } from 'node:path';
import type { Command } from 'commander';
import { backendCatalog, loadBrokerConfig } from '../../credential-broker/config.js';
import {
  type FetchAuth,
  type FetchEvent,
  runFetch,
  type SecretFormat,
} from '../../credential-broker/fetch.js';
import { loadPolicyCases, runPolicyCases } from '../../credential-broker/policy/cases.js';
import { loadPolicyFile } from '../../credential-broker/policy/policy.js';
import { createBrokerServer } from '../../credential-broker/server.js';
import { loadBundle } from '../../spiffe/bundle/index.js';
import type { X509BundleSource } from '../../spiffe/bundle/source.js';
import { SpiffeId, TrustDomain } from '../../spiffe/spiffeid/index.js';
import { spiffeIdFromCertificate } from '../../spiffe/svid/x509svid/index.js';
import { X509Source } from '../../spiffe/workloadapi/index.js';
import { parseCertificates } from '../../spiffe/x509/certificate.js';
import { UsageError } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { readInputFile } from '../inputs.js';
import { fail, pass } from '../output.js';
import type { Registrar } from '../program.js';

export function registerBrokerCommands(program: Command, r: Registrar): void {
  registerBrokerServe(program, r);
  registerPolicyTest(program, r);
  registerFetch(program, r);
}

function registerBrokerServe(program: Command, r: Registrar): void {
  const broker = program
    .command('broker')
    .description('the credential broker: SVID in, short-lived secret out');
  broker
    .command('serve')
    .description(
      'serve the broker over HTTPS (mTLS X.509-SVID or JWT-SVID bearer in, short-lived secret out)',
    )
    .option('--config <file>', 'meshbridge.yaml with a broker: section', 'meshbridge.yaml')
    .addHelpText(
      'after',
      `
Logs one JSON line per decision on stdout. SIGHUP reloads the policy (it is also
re-read when the file changes); SIGINT/SIGTERM stop after in-flight requests.
The store is --db, else broker.store, else $MESHBRIDGE_DB, else ./meshbridge.db.

Example:
  $ meshbridge dev mint --out certs --trust-domain example.org \\
      --id spiffe://example.org/ns/shop/sa/web --id spiffe://example.org/ns/meshbridge/sa/broker
  $ meshbridge broker serve --config meshbridge.yaml

Exit status: 0 stopped by SIGINT or SIGTERM, 2 the config, policy, certificate or bundles do
not load, 3 the store or the Workload API is unavailable at start.`,
    )
    .action(
      r.action(async (ctx, opts: { config: string }) => {
        const config = loadBrokerConfig(resolve(ctx.io.cwd, opts.config), ctx.io.env);
        if (ctx.globals.db !== undefined) config.store = ctx.globals.db;
        const server = await createBrokerServer(config, {
          env: ctx.io.env,
          logDestination: ctx.io.stdout as unknown as import('pino').DestinationStream,
        });
        let url: string;
        try {
          url = await server.listen();
        } catch (err) {
          await server.close();
          throw err;
        }
        ctx.out.err(`meshbridge broker listening on ${url} (policy ${server.policy.current().version})`);
        await new Promise<void>((done) => {
          const stop = () => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            process.off('SIGHUP', hup);
            done();
          };
          const hup = () => {
            const res = server.policy.reload();
            ctx.out.err(
              res.ok
                ? `policy ${res.changed ? 'reloaded' : 'unchanged'}: ${res.version}`
                : `policy refused, ${res.version} stays in force: ${res.error.message}`,
            );
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
          process.on('SIGHUP', hup);
        });
        await server.close();
      }),
    );
}

function registerPolicyTest(program: Command, r: Registrar): void {
  const policy = program.command('policy').description('credential broker policy');
  policy
    .command('test')
    .description('evaluate test cases against a policy, like `opa test`')
    .argument('<policy>', 'the policy file (YAML or JSON)')
    .argument('<cases>', 'the test cases (YAML or JSON)')
    .option('--config <file>', 'also check the credentials against the backends of this broker config')
    .addHelpText(
      'after',
      `
CASES.yaml:
  cases:
    - name: web gets orders-db
      subject: spiffe://example.org/ns/shop/sa/web
      credential: orders-db
      issuer: spire                # spire (default) | mesh | federated
      purpose: nightly-batch       # optional
      ttl: 10m                     # optional, requested TTL
      at: 2026-03-02T10:00:00Z     # optional, default now
      expect: allow                # allow | deny
      code: POLICY_NO_RULE         # optional
      ttlSeconds: 600              # optional, granted TTL

Example:
  $ meshbridge policy test policy.yaml cases.yaml

Exit status: 0 every case passed, 1 a case failed, 2 the policy or cases do not load.`,
    )
    .action(
      r.action((ctx, policyFile: string, casesFile: string, opts: { config?: string }) => {
        const catalog =
          opts.config === undefined
            ? undefined
            : backendCatalog(loadBrokerConfig(resolve(ctx.io.cwd, opts.config), ctx.io.env));
        const policy = loadPolicyFile(
          resolve(ctx.io.cwd, policyFile),
          catalog === undefined ? {} : { backends: catalog },
        );
        const cases = loadPolicyCases(resolve(ctx.io.cwd, casesFile));
        const report = runPolicyCases(policy, cases);
        if (report.failed > 0) ctx.exitCode = EXIT.negative;
        if (ctx.out.json) {
          ctx.out.printJson(report);
          return;
        }
        for (const c of report.results) {
          if (c.passed) ctx.out.out(`${pass(ctx.out)} ${c.name}`);
          else {
            ctx.out.out(`${fail(ctx.out)} ${c.name}`);
            for (const f of c.failures) ctx.out.out(`    ${f}`);
          }
        }
        ctx.out.out('');
        ctx.out.out(
          `${report.failed === 0 ? 'PASS' : 'FAIL'}: ${report.passed}/${report.results.length} cases passed (policy ${report.policyVersion})`,
        );
      }),
    );
}

interface FetchCliOptions {
  broker: string;
  credential: string;
  out: string;
  format: string;
  field?: string;
  watch?: boolean;
  cert?: string;
  key?: string;
  jwtFile?: string;
  bundle?: string;
  trustDomain?: string;
  brokerId?: string;
  socket?: string;
  exec?: string;
  ttl?: string;
  purpose?: string;
}

function registerFetch(program: Command, r: Registrar): void {
  program
    .command('fetch')
    .description(
      'fetch a short-lived secret from the broker into a file, and keep it fresh (for legacy apps)',
    )
    .requiredOption('--broker <url>', 'the broker, https://host:port')
    .requiredOption('--credential <name>', 'the credential name in the broker policy')
    .requiredOption('--out <file>', 'where to write the secret (atomically, mode 0600)')
    .option('--format <format>', 'env | json | raw', 'env')
    .option('--field <name>', 'with --format raw: the field to write')
    .option('--watch', 'keep running: renew before expiry and rewrite the file')
    .option('--cert <file>', 'X.509-SVID (leaf + chain PEM) for mTLS; default: the Workload API')
    .option('--key <file>', 'its private key')
    .option(
      '--jwt-file <file>',
      'authenticate with the JWT-SVID in this file instead (re-read on each renewal)',
    )
    .option('--bundle <file>', "trust bundle for the broker's certificate; default: the Workload API's")
    .option('--trust-domain <td>', "the bundle's trust domain (default: that of --broker-id or of --cert)")
    .option('--broker-id <spiffe-id>', "the broker's expected SPIFFE ID")
    .option('--socket <address>', 'Workload API address (default $SPIFFE_ENDPOINT_SOCKET)')
    .option('--exec <command>', 'run this after every write (sh -c)')
    .option('--ttl <duration>', 'requested lifetime, e.g. 10m (the policy may cap it)')
    .option('--purpose <purpose>', 'declared purpose, when the policy asks for one')
    .addHelpText(
      'after',
      `
Example:
  $ meshbridge fetch --broker https://127.0.0.1:8443 --credential orders-db \\
      --cert certs/web.pem --key certs/web.key --bundle certs/bundle.pem \\
      --out orders-db.env --watch --exec 'systemctl reload orders'

Exit status: 0 written (--watch: stopped by SIGINT or SIGTERM; failures are retried), 1 the
broker refused the SVID or the request, or is not the broker expected, 2 usage error or
unknown credential, 3 the broker is unreachable or unavailable.`,
    )
    .action(
      r.action(async (ctx, o: FetchCliOptions) => {
        const format = o.format as SecretFormat;
        if (!['env', 'json', 'raw'].includes(format))
          throw new UsageError(`--format must be env, json or raw, not "${o.format}"`);
        if ((o.cert === undefined) !== (o.key === undefined))
          throw new UsageError('--cert and --key go together');
        if (o.jwtFile !== undefined && o.cert !== undefined)
          throw new UsageError('choose one of --cert/--key and --jwt-file');
        const cwd = ctx.io.cwd;
        const needWorkloadApi = (o.cert === undefined && o.jwtFile === undefined) || o.bundle === undefined;
        const source = needWorkloadApi
          ? await X509Source.create({
              ...(o.socket === undefined ? {} : { address: o.socket }),
              env: ctx.io.env,
            })
          : undefined;
        try {
          const auth = (): FetchAuth => {
            if (o.cert !== undefined && o.key !== undefined)
              return {
                kind: 'x509',
                certPem: readInputFile(cwd, o.cert, 'certificate').toString('utf8'),
                keyPem: readInputFile(cwd, o.key, 'key').toString('utf8'),
              };
            if (o.jwtFile !== undefined)
              return {
                kind: 'jwt',
                token: readInputFile(cwd, o.jwtFile, 'JWT-SVID file').toString('utf8').trim(),
              };
            const svid = source!.getX509Svid();
            return {
              kind: 'x509',
              certPem: svid.certificates.map((c) => pemOf(c.der)).join(''),
              keyPem: svid.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
            };
          };
          const trustDomain = (): TrustDomain => {
            if (o.trustDomain !== undefined) return TrustDomain.parse(o.trustDomain);
            if (o.brokerId !== undefined) return SpiffeId.parse(o.brokerId).trustDomain;
            if (o.cert !== undefined) {
              const leaf = parseCertificates(readInputFile(cwd, o.cert, 'certificate'))[0];
              if (leaf !== undefined) return spiffeIdFromCertificate(leaf).trustDomain;
            }
            throw new UsageError(
              'with --bundle, name its trust domain: --trust-domain, --broker-id or --cert',
            );
          };
          const serverTrust = (): X509BundleSource => {
            if (o.bundle === undefined) return source!;
            return loadBundle(readInputFile(cwd, o.bundle, 'bundle'), { trustDomain: trustDomain() }).bundle;
          };
          const controller = new AbortController();
          const stop = () => controller.abort();
          if (o.watch === true) {
            process.once('SIGINT', stop);
            process.once('SIGTERM', stop);
          }
          try {
            const got = await runFetch({
              broker: o.broker,
              credential: o.credential,
              ...(o.ttl === undefined ? {} : { ttl: o.ttl }),
              ...(o.purpose === undefined ? {} : { purpose: o.purpose }),
              auth,
              serverTrust,
              ...(o.brokerId === undefined ? {} : { brokerId: o.brokerId }),
              out: resolve(cwd, o.out),
              format,
              ...(o.field === undefined ? {} : { field: o.field }),
              watch: o.watch === true,
              ...(o.exec === undefined ? {} : { exec: o.exec }),
              signal: controller.signal,
              onEvent: (e: FetchEvent) => {
                if (e.type === 'error' || o.watch === true) ctx.out.err(`meshbridge fetch: ${e.message}`);
              },
            });
            if (got !== undefined && o.watch !== true) {
              if (ctx.out.json)
                ctx.out.printJson({
                  name: got.name,
                  leaseId: got.leaseId,
                  expiresAt: got.expiresAt.toISOString(),
                  ttlSeconds: got.ttlSeconds,
                  out: resolve(cwd, o.out),
                });
              else
                ctx.out.out(
                  `wrote ${o.out}: ${got.name}, lease ${got.leaseId}, expires ${got.expiresAt.toISOString()}`,
                );
            }
          } finally {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
          }
        } finally {
          source?.close();
        }
      }),
    );
}

function pemOf(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
}
