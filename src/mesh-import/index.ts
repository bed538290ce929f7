export {
  type BuildOptions,
  buildInventory,
  InventoryBuilder,
  TIME_PROBLEM_CODES,
  type ValidityOptions,
  validityFinding,
} from './build.js';
export { CHECKS, type CheckDefinition, type CheckResult, checksPassed, runChecks } from './checks.js';
export { ImportError, type ImportErrorCode } from './errors.js';
export type { CertificateBlob, Extraction, KeyBlob, RoleHint } from './extraction.js';
export { type DerivedIdentity, deriveIdentity, LINKERD_IDENTITY } from './identity.js';
export * from './inventory.js';
export {
  type CertificateRecord,
  type ImportRecord,
  importMesh,
  type StoredInventory,
  storedInventoryJson,
  toImportRecord,
} from './persist.js';
export { type ContentOptions, type ReadOptions, readContent } from './read.js';
export {
  DEFAULT_MAX_FILE_BYTES,
  type InputFile,
  listInputFiles,
  readInputFiles,
  readPaths,
  type WalkOptions,
} from './walk.js';
