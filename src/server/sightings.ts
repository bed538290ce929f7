import type { AuditRecord } from '../credential-broker/audit.js';
import { type ObservationInput, recordObservations } from '../cutover/observations.js';
import type { Store } from '../store/index.js';

/**
 * Turns the broker's authentications into cutover observations (issue 6: "each
 * broker authentication records which issuer its certificate chained to"), so the
 * share of workloads on SPIRE moves while `serve` runs. Decisions arrive on the
 * request path; they are queued and written in batches off it.
 */
export class BrokerSightings {
  private queue: ObservationInput[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly source: string,
    private readonly onError: (err: unknown) => void,
    private readonly intervalMs = 1000,
  ) {}

  /** A broker `onDecision` hook: only authenticated callers with a known issuer count. */
  readonly observe = (record: AuditRecord): void => {
    if (record.spiffeId === undefined || record.issuerFingerprint === undefined) return;
    this.queue.push({
      spiffeId: record.spiffeId,
      ...(record.presentedIdentity === undefined ? {} : { identity: record.presentedIdentity }),
      issuerFingerprint: record.issuerFingerprint,
      issuerKind: record.issuerKind ?? null,
      at: record.at,
      source: this.source,
    });
    this.timer ??= setTimeout(() => void this.flush(), this.intervalMs).unref();
  };

  /** Writes what is queued; resolves when it is in the store. */
  flush(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue.splice(0);
    if (batch.length > 0) {
      this.writing = this.writing.then(() =>
        recordObservations(this.store, batch).then(() => undefined, this.onError),
      );
    }
    return this.writing;
  }
}
