import { EventEmitter } from 'node:events';
import type { JwtBundle } from '../bundle/jwtbundle.js';
import type { JwtBundleSource, X509BundleSource } from '../bundle/source.js';
import { type X509Bundle, X509BundleSet } from '../bundle/x509bundle.js';
import { SpiffeError } from '../errors.js';
import type { TrustDomain } from '../spiffeid/index.js';
import type { X509Svid } from '../svid/x509svid/svid.js';
import { JwtBundleSet } from './bundleset.js';
import {
  type CallOptions,
  type FetchJwtSvidParams,
  type WatchHandle,
  WorkloadApiClient,
  type WorkloadApiClientOptions,
} from './client.js';
import type { JwtSvid, X509Context } from './parse.js';

/** Default time `ready()` waits for the first update. */
export const DEFAULT_READY_TIMEOUT_MS = 30_000;

export interface SourceOptions extends WorkloadApiClientOptions {
  /** Share a client; it is not closed by `close()`. Without it the source owns one built from these options. */
  client?: WorkloadApiClient;
  /** Default for `ready()` (default 30 s). */
  readyTimeoutMs?: number;
}

export interface X509SourceOptions extends SourceOptions {
  /** Picks the SVID `getX509Svid()` returns; default: the first one (R106). */
  picker?: (svids: readonly X509Svid[]) => X509Svid | undefined;
}

export type X509SourceEvents = {
  /** A new X.509 context is in place (complete state, R84): hot-swap serving certificates here. */
  update: [context: X509Context];
  /** A watch failure; the source keeps retrying unless the error is final (R79). */
  watchError: [error: SpiffeError];
};

export type JwtSourceEvents = {
  update: [bundles: JwtBundleSet];
  watchError: [error: SpiffeError];
};

/** Readiness, failure and shutdown shared by both sources. */
class Lifecycle {
  readonly client: WorkloadApiClient;
  private readonly ownsClient: boolean;
  private readonly readyTimeoutMs: number;
  private readonly firstUpdate: Promise<void>;
  private resolveFirst!: () => void;
  private rejectFirst!: (err: SpiffeError) => void;
  handle: WatchHandle | undefined;
  lastError: SpiffeError | undefined;
  closed = false;

  constructor(options: SourceOptions) {
    this.ownsClient = options.client === undefined;
    this.client = options.client ?? new WorkloadApiClient(options);
    this.readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    this.firstUpdate = new Promise<void>((resolve, reject) => {
      this.resolveFirst = resolve;
      this.rejectFirst = reject;
    });
    this.firstUpdate.catch(() => {});
  }

  updated(): void {
    this.resolveFirst();
  }

  failed(err: SpiffeError, final: boolean): void {
    this.lastError = err;
    if (final) this.rejectFirst(err);
  }

  async ready(what: string, timeoutMs = this.readyTimeoutMs): Promise<void> {
    if (this.closed) throw new SpiffeError('WORKLOAD_API_CLOSED', 'internal', `${what} is closed`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const last = this.lastError;
        reject(
          new SpiffeError(
            'WORKLOAD_API_TIMEOUT',
            'unavailable',
            `${what}: no update from the Workload API within ${timeoutMs} ms` +
              (last === undefined ? '' : ` (last error: ${last.message})`),
            {
              details: { timeoutMs, lastErrorCode: last?.code },
              ...(last === undefined ? {} : { cause: last }),
            },
          ),
        );
      }, timeoutMs);
    });
    try {
      await Promise.race([this.firstUpdate, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(what: string): void {
    if (this.closed) return;
    this.closed = true;
    this.handle?.close();
    this.rejectFirst(new SpiffeError('WORKLOAD_API_CLOSED', 'internal', `${what} is closed`));
    if (this.ownsClient) this.client.close();
  }
}

function isFinal(err: SpiffeError): boolean {
  return err.code === 'WORKLOAD_API_INVALID_ARGUMENT' || err.code === 'WORKLOAD_API_UNIMPLEMENTED';
}

/**
 * Keeps the latest X.509-SVIDs and X.509 bundles from the Workload API
 * (go-spiffe `X509Source`). Every update replaces the whole state (R84, R86);
 * on PermissionDenied both are dropped until the next update (R96).
 *
 *   const source = await X509Source.create();
 *   source.on('update', () => server.setSecureContext(contextFrom(source.getX509Svid())));
 */
export class X509Source extends EventEmitter<X509SourceEvents> implements X509BundleSource {
  private readonly life: Lifecycle;
  private readonly picker: (svids: readonly X509Svid[]) => X509Svid | undefined;
  private current: X509Context | undefined;

  constructor(options: X509SourceOptions = {}) {
    super();
    this.life = new Lifecycle(options);
    this.picker = options.picker ?? ((svids) => svids[0]);
    this.life.handle = this.life.client.watchX509Context({
      onUpdate: (ctx) => {
        this.current = ctx;
        this.life.updated();
        this.emit('update', ctx);
      },
      onError: (err) => {
        // R96: an identity the server no longer grants must not be used.
        if (err.code === 'WORKLOAD_API_PERMISSION_DENIED') this.current = undefined;
        this.life.failed(err, isFinal(err));
        if (this.listenerCount('watchError') > 0) this.emit('watchError', err);
      },
    });
  }

  /** Builds a source and waits for its first update; closes it again when that fails. */
  static async create(options: X509SourceOptions = {}): Promise<X509Source> {
    const source = new X509Source(options);
    try {
      await source.ready();
    } catch (err) {
      source.close();
      throw err;
    }
    return source;
  }

  /** Resolves on the first update; rejects on timeout (WORKLOAD_API_TIMEOUT), a final error, or close. */
  async ready(timeoutMs?: number): Promise<this> {
    await this.life.ready('X509Source', timeoutMs);
    return this;
  }

  /** The SVID chosen by the picker (default: the first, R106). Throws WORKLOAD_API_NO_SVID when there is none. */
  getX509Svid(): X509Svid {
    const ctx = this.require();
    const svid = this.picker(ctx.svids);
    if (svid === undefined) {
      throw new SpiffeError('WORKLOAD_API_NO_SVID', 'not-found', 'the picker chose none of the X509-SVIDs');
    }
    return svid;
  }

  getX509Svids(): readonly X509Svid[] {
    return this.require().svids;
  }

  /** The latest complete context, if any. */
  get context(): X509Context | undefined {
    return this.current;
  }

  /** The current bundles (own trust domain and federated); empty before the first update or after R96. */
  get bundles(): X509BundleSet {
    return this.current?.bundles ?? new X509BundleSet();
  }

  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle {
    return this.bundles.getX509BundleForTrustDomain(td);
  }

  close(): void {
    if (this.life.closed) return;
    this.life.close('X509Source');
    this.current = undefined;
  }

  private require(): X509Context {
    this.assertOpen();
    if (this.current === undefined) {
      const dropped = this.life.lastError?.code === 'WORKLOAD_API_PERMISSION_DENIED';
      throw new SpiffeError(
        'WORKLOAD_API_NO_SVID',
        'unavailable',
        dropped
          ? 'the Workload API denied this workload an identity; its X509-SVIDs were dropped'
          : 'no X509-SVID received from the Workload API yet',
        dropped ? { rule: 96 } : {},
      );
    }
    return this.current;
  }

  private assertOpen(): void {
    if (this.life.closed) throw new SpiffeError('WORKLOAD_API_CLOSED', 'internal', 'X509Source is closed');
  }
}

/**
 * Keeps the latest JWT bundles from the Workload API (go-spiffe `JWTSource`) and
 * fetches JWT-SVIDs on demand. On PermissionDenied the bundles are dropped (R96).
 */
export class JwtSource extends EventEmitter<JwtSourceEvents> implements JwtBundleSource {
  private readonly life: Lifecycle;
  private current: JwtBundleSet | undefined;

  constructor(options: SourceOptions = {}) {
    super();
    this.life = new Lifecycle(options);
    this.life.handle = this.life.client.watchJwtBundles({
      onUpdate: (bundles) => {
        this.current = bundles;
        this.life.updated();
        this.emit('update', bundles);
      },
      onError: (err) => {
        if (err.code === 'WORKLOAD_API_PERMISSION_DENIED') this.current = undefined;
        this.life.failed(err, isFinal(err));
        if (this.listenerCount('watchError') > 0) this.emit('watchError', err);
      },
    });
  }

  static async create(options: SourceOptions = {}): Promise<JwtSource> {
    const source = new JwtSource(options);
    try {
      await source.ready();
    } catch (err) {
      source.close();
      throw err;
    }
    return source;
  }

  async ready(timeoutMs?: number): Promise<this> {
    await this.life.ready('JwtSource', timeoutMs);
    return this;
  }

  /** The default JWT-SVID for `audience` (FetchJWTSVID, unary; not cached). */
  fetchJwtSvid(params: FetchJwtSvidParams, options?: CallOptions): Promise<JwtSvid> {
    this.assertOpen();
    return this.life.client.fetchJwtSvid(params, options);
  }

  fetchJwtSvids(params: FetchJwtSvidParams, options?: CallOptions): Promise<JwtSvid[]> {
    this.assertOpen();
    return this.life.client.fetchJwtSvids(params, options);
  }

  get bundles(): JwtBundleSet {
    return this.current ?? new JwtBundleSet();
  }

  /** R102: the bundle of the token's trust domain; BUNDLE_NOT_FOUND otherwise. */
  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle {
    this.assertOpen();
    return this.bundles.getJwtBundleForTrustDomain(td);
  }

  close(): void {
    if (this.life.closed) return;
    this.life.close('JwtSource');
    this.current = undefined;
  }

  private assertOpen(): void {
    if (this.life.closed) throw new SpiffeError('WORKLOAD_API_CLOSED', 'internal', 'JwtSource is closed');
  }
}
