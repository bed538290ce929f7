/**
 * The SPIFFE bundle endpoint (SPIFFE_Federation.md §4-5) as a fastify plugin, mounted
 * by `meshbridge serve` on an HTTPS server (`https_web`, or `https_spiffe` when the
 * server holds an SVID: see `tls.ts`). `GET /<trust-domain>` answers the current
 * SPIFFE bundle of that trust domain (R107, R118: the newest bundle, UTF-8,
 * `application/json`); `GET /` answers the default trust domain's. Each answer carries
 * a strong ETag (304 on a matching `If-None-Match`) and `Cache-Control: max-age` from
 * the bundle's refresh hint. No route asks for client authentication (R117).
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import type { SpiffeBundle } from '../../spiffe/bundle/spiffebundle.js';
import { TrustDomain } from '../../spiffe/spiffeid/index.js';
import { DEFAULT_REFRESH_HINT_SECONDS, type PhaseBundle } from '../compose.js';
import { spiffeBundleOf } from '../emit/spiffe.js';

/** Where the endpoint reads the current bundles from; asked on every request (keep it cheap). */
export interface BundleEndpointSource {
  trustDomains(): string[] | Promise<string[]>;
  getBundle(trustDomain: string): SpiffeBundle | undefined | Promise<SpiffeBundle | undefined>;
}

export interface BundleEndpointOptions {
  source: BundleEndpointSource;
  /** Served at `GET /` (default: the only trust domain, when there is one). */
  defaultTrustDomain?: string;
}

/** A source over fixed bundles (replace them with `set`). */
export class StaticBundleSource implements BundleEndpointSource {
  private bundles = new Map<string, SpiffeBundle>();

  constructor(bundles: Iterable<SpiffeBundle> = []) {
    this.set(bundles);
  }

  set(bundles: Iterable<SpiffeBundle>): void {
    this.bundles = new Map([...bundles].map((b) => [b.trustDomain.name, b]));
  }

  trustDomains(): string[] {
    return [...this.bundles.keys()].sort();
  }

  getBundle(trustDomain: string): SpiffeBundle | undefined {
    return this.bundles.get(trustDomain);
  }
}

/**
 * A source that reloads its bundles (e.g. composes them from the store) at most every
 * `maxAgeMs`, serving the last good set while a reload runs or when one fails. `serve`
 * passes a loader; requests never wait for more than one load at a time.
 */
export class RefreshingBundleSource implements BundleEndpointSource {
  private current = new StaticBundleSource();
  private loadedAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;
  /** The last load failure, if the current set is stale because of it. */
  lastError: unknown;

  constructor(
    private readonly load: () => Promise<Iterable<SpiffeBundle>>,
    private readonly maxAgeMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Loads now (call once at start-up so the first request finds bundles). */
  refresh(): Promise<void> {
    this.inflight ??= this.load()
      .then((bundles) => {
        this.current.set(bundles);
        this.loadedAt = this.now();
        this.lastError = undefined;
      })
      .catch((err: unknown) => {
        this.lastError = err;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  private async fresh(): Promise<StaticBundleSource> {
    if (this.now() - this.loadedAt > this.maxAgeMs) {
      const pending = this.refresh();
      if (this.loadedAt === Number.NEGATIVE_INFINITY) await pending;
    }
    return this.current;
  }

  async trustDomains(): Promise<string[]> {
    return (await this.fresh()).trustDomains();
  }

  async getBundle(trustDomain: string): Promise<SpiffeBundle | undefined> {
    return (await this.fresh()).getBundle(trustDomain);
  }
}

/** The SPIFFE bundles of a phase bundle, one per trust domain. */
export function bundlesOfPhase(bundle: PhaseBundle): SpiffeBundle[] {
  return bundle.trustDomains.map((td) => spiffeBundleOf(bundle, td));
}

const ErrorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const;

const rendered = new WeakMap<SpiffeBundle, { body: string; etag: string }>();

function render(bundle: SpiffeBundle): { body: string; etag: string } {
  let r = rendered.get(bundle);
  if (r === undefined) {
    const body = bundle.marshal();
    r = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"` };
    rendered.set(bundle, r);
  }
  return r;
}

export const bundleEndpointPlugin: FastifyPluginAsync<BundleEndpointOptions> = async (
  app: FastifyInstance,
  opts: BundleEndpointOptions,
) => {
  const serve = async (reply: FastifyReply, ifNoneMatch: string | undefined, name: string | undefined) => {
    let td: string | undefined = name;
    if (td === undefined) {
      td = opts.defaultTrustDomain;
      if (td === undefined) {
        const all = await opts.source.trustDomains();
        if (all.length === 1) td = all[0];
        else {
          return reply.code(404).send({
            error: {
              code: 'BUNDLE_NOT_FOUND',
              message: `no default trust domain; ask for one of: ${all.map((t) => `/${t}`).join(', ') || '(none)'}`,
            },
          });
        }
      }
    }
    let canonical: string;
    try {
      canonical = TrustDomain.parse(td!).name;
    } catch {
      return reply
        .code(404)
        .send({ error: { code: 'BUNDLE_NOT_FOUND', message: `"${td}" is not a trust domain name` } });
    }
    const bundle = await opts.source.getBundle(canonical);
    if (bundle === undefined) {
      return reply.code(404).send({
        error: { code: 'BUNDLE_NOT_FOUND', message: `this endpoint serves no bundle for "${canonical}"` },
      });
    }
    const { body, etag } = render(bundle);
    const maxAge = bundle.refreshHint ?? DEFAULT_REFRESH_HINT_SECONDS;
    reply.header('etag', etag).header('cache-control', `public, max-age=${maxAge}`);
    if (ifNoneMatch?.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
      return reply.code(304).send();
    }
    return reply.type('application/json; charset=utf-8').send(body);
  };

  app.get<{ Headers: { 'if-none-match'?: string } }>(
    '/',
    { schema: { response: { 404: ErrorSchema } } },
    async (req, reply) => serve(reply, req.headers['if-none-match'], undefined),
  );
  app.get<{ Params: { trustDomain: string }; Headers: { 'if-none-match'?: string } }>(
    '/:trustDomain',
    {
      schema: {
        params: {
          type: 'object',
          properties: { trustDomain: { type: 'string', maxLength: 255 } },
          required: ['trustDomain'],
        },
        response: { 404: ErrorSchema },
      },
    },
    async (req, reply) => serve(reply, req.headers['if-none-match'], req.params.trustDomain),
  );
};

// fastify-plugin semantics without the dependency: routes stay in the prefix the caller registers us under.
(bundleEndpointPlugin as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] =
  'meshbridge-bundle-endpoint';
