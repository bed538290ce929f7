/**
 * Consumers fetching a static key through the real broker core (`Broker.issue`): the
 * policy decides, the backend reads the secret, and the broker records the lease, the
 * audit record and the sighting in the store the ledger reads its evidence from. Only
 * authentication is skipped: callers are built as the authenticator would return them.
 */
import pino from 'pino';
import type { Caller } from '../../../src/credential-broker/auth/identity.js';
import { StaticTrust } from '../../../src/credential-broker/auth/trust.js';
import type { CredentialBackend } from '../../../src/credential-broker/backends/index.js';
import { Broker, type IssueResult } from '../../../src/credential-broker/broker.js';
import { compilePolicy, PolicyHolder } from '../../../src/credential-broker/policy/index.js';
import { SpiffeId } from '../../../src/spiffe/spiffeid/index.js';
import type { Store } from '../../../src/store/index.js';

export interface ServedKey {
  credential: string;
  backendName: string;
  backend: CredentialBackend;
  /** The policy's `spec:` for the credential. */
  spec: Record<string, unknown>;
  /** SPIFFE IDs the policy lets fetch it; anyone else is denied. */
  allowed: string[];
}

export function brokerServing(store: Store, served: ServedKey): Broker {
  const policy = compilePolicy(
    JSON.stringify({
      version: 'static-keys-e2e',
      credentials: { [served.credential]: { backend: served.backendName, spec: served.spec, ttl: '5m' } },
      rules: [{ name: 'consumers', subjects: served.allowed, credentials: [served.credential] }],
    }),
    'policy.json',
    { backends: new Map([[served.backendName, served.backend.kind]]) },
  );
  return new Broker({
    store,
    policy: PolicyHolder.of(policy),
    trust: new StaticTrust([]),
    backends: new Map([[served.backendName, served.backend]]),
    audience: () => ['meshbridge-broker'],
    logger: pino({ level: 'silent' }),
    rateLimit: false,
  });
}

export function caller(id: string): Caller {
  return {
    id: SpiffeId.parse(id),
    method: 'jwt',
    issuer: { kind: 'spire', fingerprint: '00'.repeat(32), label: 'spire' },
    expiresAt: new Date(Date.now() + 3600_000),
    warnings: [],
    trustVersion: 'test',
  };
}

/** One fetch as `id`; resolves with the issued credential, rejects with the broker's coded error. */
export async function fetchAs(broker: Broker, id: string, credential: string): Promise<IssueResult> {
  return broker.issue(caller(id), { credential });
}
