export {
  isStoreError,
  StoreError,
  type StoreErrorCategory,
  type StoreErrorCode,
  type StoreErrorOptions,
} from './errors.js';
export {
  type InventoryFilter,
  type LoadedInventory,
  loadInventory,
  type SaveImportInput,
  type SaveImportOptions,
  type SaveImportProgress,
  type SaveImportResult,
  saveImport,
  sourceId,
} from './inventory-repo.js';
export {
  ADVISORY_LOCK_NAMESPACE,
  type AppliedMigration,
  assertMigrationsUnchanged,
  findMigrationsDir,
  loadMigrations,
  type Migration,
  type MigrationStatus,
  migrate,
  migrationStatus,
} from './migrate.js';
export {
  DEFAULT_DB_FILE,
  defaultTarget,
  type OpenStoreOptions,
  openStore,
  parseTarget,
  type StoreTarget,
} from './open.js';
export { batches, MAX_PARAMS, parseJson } from './rows.js';
export type * from './schema.js';
export { CERTIFICATE_ROLES } from './schema.js';
export type { BatchStatement, Dialect, Store } from './store.js';
