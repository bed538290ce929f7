/**
 * FAKE Workload API server, for tests only. It speaks the real protocol (the same
 * `proto/workload.proto`, method paths `/SpiffeWorkloadAPI/<Rpc>`, the security
 * header of rules 71/72) over a unix socket in a temp dir or over TCP on 127.0.0.1.
 * Nothing here attests callers: whoever connects gets the configured state.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createJwtAuthority, JwtBundle } from '../../../src/spiffe/bundle/jwtbundle.js';
import type { JwtBundleSource } from '../../../src/spiffe/bundle/source.js';
import { SpiffeError } from '../../../src/spiffe/errors.js';
import { signJwtSvid, verifyJwtSvid } from '../../../src/spiffe/svid/jwtsvid/index.js';
import {
  type JWTSVIDRequestMessage,
  jsonToStruct,
  SECURITY_HEADER,
  SECURITY_HEADER_VALUE,
  type ValidateJWTSVIDRequestMessage,
  workloadServiceDefinition,
} from '../../../src/spiffe/workloadapi/proto.js';

export type FakeRpc =
  | 'FetchX509SVID'
  | 'FetchX509Bundles'
  | 'FetchJWTSVID'
  | 'FetchJWTBundles'
  | 'ValidateJWTSVID'
  | 'FetchWITSVID'
  | 'FetchWITBundles';

const STREAMING: readonly FakeRpc[] = ['FetchX509SVID', 'FetchX509Bundles', 'FetchJWTBundles'];

/** One X509SVID message; fields are sent as given (an empty value tests rule 87). */
export interface FakeX509Svid {
  spiffeId: string;
  /** Concatenated DER, leaf first. */
  x509Svid: Uint8Array;
  /** DER PKCS#8. */
  x509SvidKey: Uint8Array;
  /** Concatenated DER CA certificates of the SVID's trust domain. */
  bundle: Uint8Array;
  hint?: string;
}

export interface FakeX509Context {
  svids: FakeX509Svid[];
  /** Key: trust-domain ID (`spiffe://td`) or bare name, value: concatenated DER. */
  federatedBundles?: Record<string, Uint8Array>;
  crl?: Uint8Array[];
}

export interface FakeJwtIdentity {
  spiffeId: string;
  hint?: string;
}

export interface FakeWorkloadApiOptions {
  transport?: 'unix' | 'tcp';
  /** JWT-SVID lifetime in seconds (default 300). */
  jwtTtlSeconds?: number;
}

interface StreamCall {
  rpc: FakeRpc;
  call: grpc.ServerWritableStream<unknown, unknown>;
}

export class FakeWorkloadApi {
  /** `unix:///tmp/.../agent.sock` or `tcp://127.0.0.1:<port>`. */
  address = '';
  /** Calls received per RPC (including rejected ones). */
  readonly calls: Record<FakeRpc, number> = {
    FetchX509SVID: 0,
    FetchX509Bundles: 0,
    FetchJWTSVID: 0,
    FetchJWTBundles: 0,
    ValidateJWTSVID: 0,
    FetchWITSVID: 0,
    FetchWITBundles: 0,
  };
  /** Calls rejected for a missing or wrong security header (rule 72). */
  rejectedWithoutHeader = 0;
  /** The last JWTSVIDRequest received. */
  lastJwtSvidRequest: JWTSVIDRequestMessage | undefined;

  private server: grpc.Server | undefined;
  private readonly streams = new Set<StreamCall>();
  private x509: FakeX509Context | undefined;
  private x509Bundles: Record<string, Uint8Array> | undefined;
  private jwtBundles: Record<string, Uint8Array> | undefined;
  private jwtIdentities: FakeJwtIdentity[] = [];
  private readonly errors = new Map<FakeRpc, { code: grpc.status; details: string }>();
  private readonly tmpDir: string | undefined;
  private readonly socketPath: string | undefined;
  private port = 0;
  private readonly jwtTtlSeconds: number;
  private readonly signingKey: KeyObject;
  readonly signingKid: string;

  private constructor(
    private readonly transport: 'unix' | 'tcp',
    options: FakeWorkloadApiOptions,
  ) {
    if (transport === 'unix') {
      this.tmpDir = mkdtempSync(join(tmpdir(), 'mb-fake-wlapi-'));
      this.socketPath = join(this.tmpDir, 'agent.sock');
    }
    this.jwtTtlSeconds = options.jwtTtlSeconds ?? 300;
    this.signingKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    this.signingKid = randomUUID().replaceAll('-', '');
  }

  static async start(options: FakeWorkloadApiOptions = {}): Promise<FakeWorkloadApi> {
    const fake = new FakeWorkloadApi(options.transport ?? 'unix', options);
    await fake.listen();
    return fake;
  }

  // ---- state -------------------------------------------------------------

  /** Sets the X.509 context and pushes it (complete state, rule 84) to every open X.509 stream. */
  setX509Context(ctx: FakeX509Context | undefined): void {
    this.x509 = ctx;
    this.broadcast('FetchX509SVID');
    this.broadcast('FetchX509Bundles');
  }

  /** Overrides what FetchX509Bundles sends (default: own bundles of the X.509 context + federated). */
  setX509Bundles(bundles: Record<string, Uint8Array> | undefined): void {
    this.x509Bundles = bundles;
    this.broadcast('FetchX509Bundles');
  }

  /** Sets the JWT bundles (key: trust-domain ID, value: JWKS JSON) and pushes them. */
  setJwtBundles(bundles: Record<string, Uint8Array | string | object> | undefined): void {
    this.jwtBundles =
      bundles === undefined
        ? undefined
        : Object.fromEntries(
            Object.entries(bundles).map(([k, v]) => [
              k,
              v instanceof Uint8Array ? v : Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)),
            ]),
          );
    this.broadcast('FetchJWTBundles');
  }

  /** Identities FetchJWTSVID mints tokens for, in order. */
  setJwtIdentities(ids: FakeJwtIdentity[]): void {
    this.jwtIdentities = ids;
  }

  /** The fake's JWT signing key as a Workload-API JWKS (no `use`, N7). */
  jwks(): { keys: Record<string, unknown>[] } {
    const jwk = createPublicKey(this.signingKey).export({ format: 'jwk' });
    return { keys: [{ ...jwk, kid: this.signingKid, alg: 'ES256' }] };
  }

  /**
   * From now on, answer `rpc` with this status; open streams of that RPC end with it.
   * `undefined` clears the failure.
   */
  failWith(rpc: FakeRpc, code: grpc.status | undefined, details = 'injected by the fake'): void {
    if (code === undefined) {
      this.errors.delete(rpc);
      return;
    }
    this.errors.set(rpc, { code, details });
    for (const s of [...this.streams]) {
      if (s.rpc === rpc) {
        this.streams.delete(s);
        s.call.emit('error', { code, details });
      }
    }
  }

  /** Number of open streams, optionally of one RPC. */
  openStreams(rpc?: FakeRpc): number {
    let n = 0;
    for (const s of this.streams) if (rpc === undefined || s.rpc === rpc) n++;
    return n;
  }

  /** Mints a JWT-SVID signed by the fake's key (one audience is written as a string, N8). */
  mintJwtSvid(spiffeId: string, audience: string[], ttlSeconds = this.jwtTtlSeconds): string {
    return signJwtSvid({
      id: spiffeId,
      audience,
      ttl: ttlSeconds,
      key: this.signingKey,
      kid: this.signingKid,
    });
  }

  /** The fake's key as a bundle source for any trust domain. */
  private keySource(): JwtBundleSource {
    const authority = createJwtAuthority(this.signingKid, this.signingKey);
    return { getJwtBundleForTrustDomain: (td) => new JwtBundle(td, [authority]) };
  }

  // ---- lifecycle ---------------------------------------------------------

  /** Stops serving; open streams break as they would when an agent dies. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.streams.clear();
    if (server !== undefined) server.forceShutdown();
  }

  /** Serves again on the same socket path or port, keeping the configured state. */
  async restart(): Promise<void> {
    await this.stop();
    await this.listen();
  }

  /** Stops and removes the temp dir. */
  async close(): Promise<void> {
    await this.stop();
    if (this.tmpDir !== undefined) rmSync(this.tmpDir, { recursive: true, force: true });
  }

  private async listen(): Promise<void> {
    const server = new grpc.Server();
    server.addService(workloadServiceDefinition(), this.handlers() as grpc.UntypedServiceImplementation);
    let bindTo: string;
    if (this.transport === 'unix') {
      try {
        unlinkSync(this.socketPath!);
      } catch {
        // not there yet
      }
      bindTo = `unix://${this.socketPath}`;
    } else {
      bindTo = `127.0.0.1:${this.port}`;
    }
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(bindTo, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      );
    });
    if (this.transport === 'tcp') {
      this.port = port;
      this.address = `tcp://127.0.0.1:${port}`;
    } else {
      this.address = `unix://${this.socketPath}`;
    }
    this.server = server;
  }

  // ---- protocol ----------------------------------------------------------

  /** Rule 72: calls without `workload.spiffe.io: true` are rejected with InvalidArgument. */
  private admit(rpc: FakeRpc, metadata: grpc.Metadata): { code: grpc.status; details: string } | undefined {
    this.calls[rpc]++;
    const values = metadata.get(SECURITY_HEADER);
    if (values.length !== 1 || values[0] !== SECURITY_HEADER_VALUE) {
      this.rejectedWithoutHeader++;
      return { code: grpc.status.INVALID_ARGUMENT, details: 'security header missing from request' };
    }
    return this.errors.get(rpc);
  }

  private handlers(): Record<FakeRpc, grpc.UntypedHandleCall> {
    const stream =
      (rpc: FakeRpc): grpc.handleServerStreamingCall<unknown, unknown> =>
      (call) => {
        const failure = this.admit(rpc, call.metadata);
        if (failure !== undefined) {
          call.emit('error', failure);
          return;
        }
        const entry: StreamCall = { rpc, call };
        this.streams.add(entry);
        const forget = () => this.streams.delete(entry);
        call.on('cancelled', forget);
        call.on('finish', forget);
        call.on('close', forget);
        // Rule 85: the request itself is an update trigger.
        this.send(entry);
      };
    const unimplemented =
      (rpc: FakeRpc): grpc.handleServerStreamingCall<unknown, unknown> =>
      (call) => {
        const failure = this.admit(rpc, call.metadata);
        // Rule 103: no WIT profile here.
        call.emit(
          'error',
          failure ?? { code: grpc.status.UNIMPLEMENTED, details: 'WIT-SVID profile is disabled' },
        );
      };
    return {
      FetchX509SVID: stream('FetchX509SVID'),
      FetchX509Bundles: stream('FetchX509Bundles'),
      FetchJWTBundles: stream('FetchJWTBundles'),
      FetchJWTSVID: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const failure = this.admit('FetchJWTSVID', call.metadata);
        if (failure !== undefined) return cb(failure);
        cb(...this.fetchJwtSvid(call.request as JWTSVIDRequestMessage));
      },
      ValidateJWTSVID: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const failure = this.admit('ValidateJWTSVID', call.metadata);
        if (failure !== undefined) return cb(failure);
        cb(...this.validateJwtSvid(call.request as ValidateJWTSVIDRequestMessage));
      },
      FetchWITSVID: unimplemented('FetchWITSVID'),
      FetchWITBundles: unimplemented('FetchWITBundles'),
    };
  }

  private broadcast(rpc: FakeRpc): void {
    for (const s of this.streams) if (s.rpc === rpc) this.send(s);
  }

  /** Writes the complete current state (rule 84), or nothing while there is none. */
  private send(s: StreamCall): void {
    if (!STREAMING.includes(s.rpc)) return;
    const message = this.currentMessage(s.rpc);
    if (message !== undefined) s.call.write(message);
  }

  private currentMessage(rpc: FakeRpc): unknown {
    switch (rpc) {
      case 'FetchX509SVID':
        if (this.x509 === undefined) return undefined;
        return {
          svids: this.x509.svids.map((s) => ({
            spiffe_id: s.spiffeId,
            x509_svid: Buffer.from(s.x509Svid),
            x509_svid_key: Buffer.from(s.x509SvidKey),
            bundle: Buffer.from(s.bundle),
            hint: s.hint ?? '',
          })),
          crl: (this.x509.crl ?? []).map((c) => Buffer.from(c)),
          federated_bundles: mapValues(this.x509.federatedBundles ?? {}),
        };
      case 'FetchX509Bundles': {
        if (this.x509Bundles !== undefined) return { crl: [], bundles: mapValues(this.x509Bundles) };
        if (this.x509 === undefined) return undefined;
        const bundles: Record<string, Uint8Array> = {};
        for (const s of this.x509.svids) {
          const td = `spiffe://${s.spiffeId.replace(/^spiffe:\/\//, '').split('/')[0]}`;
          bundles[td] ??= s.bundle;
        }
        return { crl: [], bundles: mapValues({ ...this.x509.federatedBundles, ...bundles }) };
      }
      case 'FetchJWTBundles':
        return this.jwtBundles === undefined ? undefined : { bundles: mapValues(this.jwtBundles) };
      default:
        return undefined;
    }
  }

  private fetchJwtSvid(req: JWTSVIDRequestMessage): [grpc.ServiceError | null, unknown?] {
    this.lastJwtSvidRequest = req;
    if (req.audience.length === 0) {
      return [statusError(grpc.status.INVALID_ARGUMENT, 'audience must be specified')];
    }
    const ids =
      req.spiffe_id === ''
        ? this.jwtIdentities
        : this.jwtIdentities.filter((i) => i.spiffeId === req.spiffe_id);
    if (ids.length === 0) {
      return [statusError(grpc.status.PERMISSION_DENIED, 'no identity issued')];
    }
    return [
      null,
      {
        svids: ids.map((i) => ({
          spiffe_id: i.spiffeId,
          svid: this.mintJwtSvid(i.spiffeId, req.audience),
          hint: i.hint ?? '',
        })),
      },
    ];
  }

  /** Verifies with the fake's own key (verifyJwtSvid); InvalidArgument otherwise, as SPIRE does. */
  private validateJwtSvid(req: ValidateJWTSVIDRequestMessage): [grpc.ServiceError | null, unknown?] {
    if (req.audience === '') return [statusError(grpc.status.INVALID_ARGUMENT, 'audience must be specified')];
    if (req.svid === '') return [statusError(grpc.status.INVALID_ARGUMENT, 'svid must be specified')];
    try {
      const v = verifyJwtSvid(req.svid, this.keySource(), {
        audience: req.audience,
        clockToleranceSeconds: 0,
      });
      return [null, { spiffe_id: v.id.toString(), claims: jsonToStruct(v.claims) }];
    } catch (err) {
      const why = err instanceof SpiffeError ? `${err.code}: ${err.message}` : String(err);
      return [statusError(grpc.status.INVALID_ARGUMENT, `unable to validate JWT-SVID: ${why}`)];
    }
  }
}

function mapValues(record: Record<string, Uint8Array>): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, Buffer.from(v)]));
}

function statusError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}
