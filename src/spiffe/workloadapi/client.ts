import * as grpc from '@grpc/grpc-js';
import { type Clock, SpiffeError, systemClock } from '../errors.js';
import type { SpiffeId } from '../spiffeid/index.js';
import { type EndpointAddress, resolveEndpointAddress } from './address.js';
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.js';
import type { JwtBundleSet } from './bundleset.js';
import {
  type JwtSvid,
  parseJwtBundlesResponse,
  parseJwtSvidResponse,
  parseValidateJwtSvidResponse,
  parseX509BundlesResponse,
  parseX509SvidResponse,
  type ValidatedJwtSvid,
  type X509BundlesUpdate,
  type X509Context,
} from './parse.js';
import {
  type JWTBundlesResponseMessage,
  type JWTSVIDRequestMessage,
  type JWTSVIDResponseMessage,
  SECURITY_HEADER,
  SECURITY_HEADER_VALUE,
  type ValidateJWTSVIDRequestMessage,
  type ValidateJWTSVIDResponseMessage,
  workloadServiceDefinition,
  type X509BundlesResponseMessage,
  type X509SVIDResponseMessage,
} from './proto.js';
import { errorFromStatus, isRetryable } from './status.js';

export interface WorkloadApiClientOptions {
  /** `unix:///path` or `tcp://ip:port`; defaults to `SPIFFE_ENDPOINT_SOCKET` (rule 74). */
  address?: string;
  /** Where `SPIFFE_ENDPOINT_SOCKET` is read from (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Judges JWT-SVID expiry on receipt. */
  clock?: Clock;
  /** Reconnect backoff for watchers; also sizes grpc-js's own reconnect backoff. */
  backoff?: BackoffOptions;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Deadline for the call, in ms from now. */
  timeoutMs?: number;
}

/** Receives complete state on every update (rule 84) and every failure. */
export interface Watcher<T> {
  onUpdate(update: T): void;
  /**
   * Failures: discarded messages (WORKLOAD_API_INVALID_RESPONSE, rule 87), stream
   * errors before a retry, and a final error when the watch gives up
   * (InvalidArgument / Unimplemented, rule 79). On WORKLOAD_API_PERMISSION_DENIED
   * stop using the SVIDs and bundles received so far (rule 96).
   */
  onError?(err: SpiffeError): void;
}

export interface WatchHandle {
  /** Stops watching; no callback runs afterwards. */
  close(): void;
  /** Settles when the watch has stopped: after `close()` or on a final error. */
  readonly closed: Promise<void>;
}

export interface FetchJwtSvidParams {
  /** Mandatory, at least one (rule 98). */
  audience: readonly string[];
  /** Ask for one identity; without it every identity the workload holds is returned (rule 99). */
  spiffeId?: SpiffeId | string;
}

type Rpc = 'FetchX509SVID' | 'FetchX509Bundles' | 'FetchJWTBundles' | 'FetchJWTSVID' | 'ValidateJWTSVID';

/**
 * SPIFFE Workload API client over gRPC (plaintext, rule 73), every call carrying
 * `workload.spiffe.io: true` (rule 71).
 */
export class WorkloadApiClient {
  readonly address: EndpointAddress;
  private readonly grpcClient: grpc.Client;
  private readonly service = workloadServiceDefinition();
  private readonly clock: Clock;
  private readonly backoffOptions: BackoffOptions;
  private readonly watches = new Set<StreamWatch<unknown, unknown>>();
  private isClosed = false;

  constructor(options: WorkloadApiClientOptions = {}) {
    this.address = resolveEndpointAddress(options.address, options.env);
    this.clock = options.clock ?? systemClock;
    this.backoffOptions = options.backoff ?? {};
    const initial = Math.max(100, Math.round(this.backoffOptions.initialMs ?? DEFAULT_BACKOFF.initialMs));
    const max = Math.max(initial, Math.round(this.backoffOptions.maxMs ?? DEFAULT_BACKOFF.maxMs));
    this.grpcClient = new grpc.Client(this.address.target, grpc.credentials.createInsecure(), {
      'grpc.initial_reconnect_backoff_ms': initial,
      'grpc.max_reconnect_backoff_ms': max,
    });
  }

  // ---- X.509 -------------------------------------------------------------

  /** The first FetchX509SVID message: SVIDs (first = default, rule 106) and bundles. */
  fetchX509Context(options: CallOptions = {}): Promise<X509Context> {
    return this.first<X509SVIDResponseMessage, X509Context>('FetchX509SVID', parseX509SvidResponse, options);
  }

  /** Streams X.509 contexts, reconnecting with backoff (rule 79). */
  watchX509Context(watcher: Watcher<X509Context>): WatchHandle {
    return this.watch<X509SVIDResponseMessage, X509Context>('FetchX509SVID', parseX509SvidResponse, watcher);
  }

  /** The first FetchX509Bundles message. */
  fetchX509Bundles(options: CallOptions = {}): Promise<X509BundlesUpdate> {
    return this.first<X509BundlesResponseMessage, X509BundlesUpdate>(
      'FetchX509Bundles',
      parseX509BundlesResponse,
      options,
    );
  }

  watchX509Bundles(watcher: Watcher<X509BundlesUpdate>): WatchHandle {
    return this.watch<X509BundlesResponseMessage, X509BundlesUpdate>(
      'FetchX509Bundles',
      parseX509BundlesResponse,
      watcher,
    );
  }

  // ---- JWT ---------------------------------------------------------------

  /** FetchJWTSVID (unary, rules 98/99): the default (first) JWT-SVID. */
  async fetchJwtSvid(params: FetchJwtSvidParams, options: CallOptions = {}): Promise<JwtSvid> {
    const svids = await this.fetchJwtSvids(params, options);
    return svids[0]!;
  }

  /** FetchJWTSVID: every JWT-SVID returned, hints de-duplicated (rule 92). */
  async fetchJwtSvids(params: FetchJwtSvidParams, options: CallOptions = {}): Promise<JwtSvid[]> {
    const audience = [...params.audience];
    if (audience.length === 0 || audience.some((a) => a === '')) {
      throw new SpiffeError(
        'WORKLOAD_API_INVALID_REQUEST',
        'input',
        'a JWT-SVID needs at least one non-empty audience',
        {
          rule: 98,
        },
      );
    }
    const request: JWTSVIDRequestMessage = {
      audience,
      spiffe_id: params.spiffeId === undefined ? '' : params.spiffeId.toString(),
    };
    const response = await this.unary<JWTSVIDRequestMessage, JWTSVIDResponseMessage>(
      'FetchJWTSVID',
      request,
      options,
    );
    return parseJwtSvidResponse(response, audience, this.clock);
  }

  /** The first FetchJWTBundles message. */
  fetchJwtBundles(options: CallOptions = {}): Promise<JwtBundleSet> {
    return this.first<JWTBundlesResponseMessage, JwtBundleSet>(
      'FetchJWTBundles',
      parseJwtBundlesResponse,
      options,
    );
  }

  watchJwtBundles(watcher: Watcher<JwtBundleSet>): WatchHandle {
    return this.watch<JWTBundlesResponseMessage, JwtBundleSet>(
      'FetchJWTBundles',
      parseJwtBundlesResponse,
      watcher,
    );
  }

  /**
   * ValidateJWTSVID (rule 101): the agent validates the token for `audience`.
   * A token the agent refuses fails with WORKLOAD_API_JWT_SVID_INVALID.
   */
  async validateJwtSvid(
    token: string,
    audience: string,
    options: CallOptions = {},
  ): Promise<ValidatedJwtSvid> {
    if (token === '' || audience === '') {
      throw new SpiffeError('WORKLOAD_API_INVALID_REQUEST', 'input', 'token and audience are both required', {
        rule: 101,
      });
    }
    let response: ValidateJWTSVIDResponseMessage;
    try {
      response = await this.unary<ValidateJWTSVIDRequestMessage, ValidateJWTSVIDResponseMessage>(
        'ValidateJWTSVID',
        { audience, svid: token },
        options,
      );
    } catch (err) {
      if (err instanceof SpiffeError && err.code === 'WORKLOAD_API_INVALID_ARGUMENT') {
        throw new SpiffeError('WORKLOAD_API_JWT_SVID_INVALID', 'verdict', err.message, {
          rule: 101,
          ...(err.details === undefined ? {} : { details: err.details }),
          cause: err,
        });
      }
      throw err;
    }
    return parseValidateJwtSvidResponse(response);
  }

  // ---- lifecycle ---------------------------------------------------------

  /** Stops every watch and closes the channel. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const w of [...this.watches]) w.close();
    this.grpcClient.close();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  // ---- plumbing ----------------------------------------------------------

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set(SECURITY_HEADER, SECURITY_HEADER_VALUE);
    return md;
  }

  private assertOpen(): void {
    if (this.isClosed) {
      throw new SpiffeError('WORKLOAD_API_CLOSED', 'internal', 'the Workload API client is closed');
    }
  }

  private callOptions(options: CallOptions): grpc.CallOptions {
    return options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
  }

  private openStream<M>(rpc: Rpc, options: CallOptions = {}): grpc.ClientReadableStream<M> {
    const method = this.service[rpc]!;
    return this.grpcClient.makeServerStreamRequest<object, M>(
      method.path,
      method.requestSerialize as (v: object) => Buffer,
      method.responseDeserialize as (b: Buffer) => M,
      {},
      this.metadata(),
      this.callOptions(options),
    );
  }

  private unary<Req, Res>(rpc: Rpc, request: Req, options: CallOptions): Promise<Res> {
    this.assertOpen();
    const method = this.service[rpc]!;
    return new Promise<Res>((resolve, reject) => {
      if (options.signal?.aborted) return reject(aborted(rpc));
      const call = this.grpcClient.makeUnaryRequest<Req, Res>(
        method.path,
        method.requestSerialize as (v: Req) => Buffer,
        method.responseDeserialize as (b: Buffer) => Res,
        request,
        this.metadata(),
        this.callOptions(options),
        (err, value) => {
          options.signal?.removeEventListener('abort', onAbort);
          if (err) reject(errorFromStatus(rpc, err));
          else resolve(value as Res);
        },
      );
      const onAbort = () => call.cancel();
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Reads the first message of a stream, then cancels it. */
  private first<M, T>(rpc: Rpc, parse: (m: M) => T, options: CallOptions): Promise<T> {
    this.assertOpen();
    return new Promise<T>((resolve, reject) => {
      if (options.signal?.aborted) return reject(aborted(rpc));
      const call = this.openStream<M>(rpc, options);
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        options.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = () => {
        settle(() => reject(aborted(rpc)));
        call.cancel();
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      call.on('data', (message: M) => {
        settle(() => {
          try {
            resolve(parse(message));
          } catch (err) {
            reject(err);
          }
        });
        call.cancel();
      });
      call.on('error', (err: grpc.ServiceError) => settle(() => reject(errorFromStatus(rpc, err))));
      call.on('status', (st: grpc.StatusObject) => settle(() => reject(streamEnded(rpc, st))));
    });
  }

  private watch<M, T>(rpc: Rpc, parse: (m: M) => T, watcher: Watcher<T>): WatchHandle {
    this.assertOpen();
    const w = new StreamWatch<M, T>(
      rpc,
      () => this.openStream<M>(rpc),
      parse,
      watcher,
      new Backoff(this.backoffOptions),
      () => this.watches.delete(w as StreamWatch<unknown, unknown>),
    );
    this.watches.add(w as StreamWatch<unknown, unknown>);
    w.start();
    return w;
  }
}

function aborted(rpc: string): SpiffeError {
  return new SpiffeError(
    'WORKLOAD_API_CANCELLED',
    'unavailable',
    `Workload API ${rpc} was aborted by the caller`,
  );
}

function streamEnded(rpc: string, st: grpc.StatusObject): SpiffeError {
  return new SpiffeError(
    'WORKLOAD_API_UNAVAILABLE',
    'unavailable',
    `Workload API ${rpc}: the server ended the stream without a message`,
    { rule: 79, details: { rpc, grpcCode: grpc.status[st.code], grpcDetails: st.details } },
  );
}

function asSpiffeError(err: unknown, code: string): SpiffeError {
  if (err instanceof SpiffeError) return err;
  return new SpiffeError(code, 'internal', err instanceof Error ? err.message : String(err), { cause: err });
}

/**
 * One long-lived server stream: every message is complete state (rule 84); a bad
 * message is reported and discarded (rule 87) while the stream stays open; a broken
 * stream is reopened after an exponential, jittered, capped backoff unless its
 * status is final (rule 79).
 */
class StreamWatch<M, T> implements WatchHandle {
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private call: grpc.ClientReadableStream<M> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly rpc: Rpc,
    private readonly open: () => grpc.ClientReadableStream<M>,
    private readonly parse: (m: M) => T,
    private readonly watcher: Watcher<T>,
    private readonly backoff: Backoff,
    private readonly onStop: () => void,
  ) {
    this.closed = new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  start(): void {
    this.connect();
  }

  close(): void {
    if (this.stopped) return;
    this.finish();
    const call = this.call;
    this.call = undefined;
    call?.cancel();
  }

  private finish(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.onStop();
    this.resolveClosed();
  }

  private connect(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const call = this.open();
    this.call = call;
    let ended = false;
    const end = (err: SpiffeError) => {
      if (ended) return;
      ended = true;
      if (this.call !== call || this.stopped) return;
      this.call = undefined;
      this.report(err);
      if (!isRetryable(err)) {
        this.finish();
        return;
      }
      this.timer = setTimeout(() => this.connect(), this.backoff.next());
    };
    call.on('data', (message: M) => {
      if (this.call !== call || this.stopped) return;
      let update: T;
      try {
        update = this.parse(message);
      } catch (err) {
        // Rule 87: discard the message, report, keep the stream.
        this.report(asSpiffeError(err, 'WORKLOAD_API_INVALID_RESPONSE'));
        return;
      }
      this.backoff.reset();
      try {
        this.watcher.onUpdate(update);
      } catch (err) {
        this.report(asSpiffeError(err, 'WORKLOAD_API_WATCHER_FAILED'));
      }
    });
    call.on('error', (err: grpc.ServiceError) => end(errorFromStatus(this.rpc, err)));
    call.on('status', (st: grpc.StatusObject) => {
      if (st.code === grpc.status.OK) end(streamEnded(this.rpc, st));
    });
  }

  private report(err: SpiffeError): void {
    try {
      this.watcher.onError?.(err);
    } catch {
      // A failing error handler must not break the watch.
    }
  }
}
