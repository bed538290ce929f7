/**
 * What the `bundle` subcommands and `spire sync --bundle` share: opening the store,
 * composing the trust it holds (inventory anchors + SPIRE + federated roots) for a
 * scope, and loading inventoried workload chains.
 */
import { parseDuration } from '../../spiffe/duration.js';
import { openStore, type Store } from '../../store/index.js';
import type { CommandContext } from '../context.js';

export {
  composeFromStore,
  type InventoriedChain,
  inventoriedChains,
  type StoredTrust,
  type TrustOptions,
} from '../../cutover/stored-trust.js';

export async function withStore<T>(ctx: CommandContext, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(ctx.globals.db, { env: ctx.io.env, cwd: ctx.io.cwd });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function overlapOption(text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseDuration(text, '--overlap');
}
