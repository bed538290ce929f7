import { appendFileSync } from 'node:fs';
import {
  BackendError,
  type CredentialBackend,
  EphemeralBackend,
  type IssuedCredential,
  type IssueRequest,
} from '../../../src/credential-broker/backends/index.js';

/**
 * The ephemeral backend, counting every downstream revocation (and optionally
 * appending it to a file shared by several processes), with switches to fail.
 */
export class CountingBackend implements CredentialBackend {
  readonly kind = 'ephemeral' as const;
  readonly name: string;
  readonly revocations = new Map<string, number>();
  readonly issued: string[] = [];
  failRevoke = false;
  down = false;
  private readonly inner: EphemeralBackend;

  constructor(
    name = 'ephemeral',
    private readonly revocationLog?: string,
    private readonly revokeDelayMs = 2,
  ) {
    this.name = name;
    this.inner = new EphemeralBackend({ name });
  }

  async issue(request: IssueRequest): Promise<IssuedCredential> {
    if (this.down)
      throw new BackendError('BACKEND_UNAVAILABLE', `backend ${this.name} is down (test switch)`);
    const c = await this.inner.issue(request);
    this.issued.push(...Object.values(c.secret));
    return c;
  }

  async revoke(id: string): Promise<void> {
    await new Promise((r) => setTimeout(r, this.revokeDelayMs));
    if (this.failRevoke)
      throw new BackendError('BACKEND_UNAVAILABLE', `backend ${this.name} cannot revoke now (test switch)`);
    this.revocations.set(id, (this.revocations.get(id) ?? 0) + 1);
    if (this.revocationLog !== undefined) appendFileSync(this.revocationLog, `${process.pid} ${id}\n`);
    await this.inner.revoke(id);
  }

  health() {
    return this.inner.health();
  }

  close() {
    return this.inner.close();
  }
}
