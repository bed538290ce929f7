/**
 * Identity mapping: mesh identities (Istio SPIFFE IDs and principals, Linkerd DNS
 * identities) to lasting SPIFFE IDs in the real trust domain, and everything that must
 * follow them: SPIRE registration entries, ClusterSPIFFEIDs, Istio trust-domain aliases
 * and AuthorizationPolicies, Linkerd MeshTLSAuthentications. Data in, data out.
 */
export {
  EMITTERS,
  type EmitInput,
  type EmitOutput,
  type EmittedFile,
  type EmitterName,
  emit,
  parseEmitList,
} from './emit/index.js';
export { type PolicyObject, type PolicySet, parsePolicyDocuments } from './emit/policies.js';
export { type MapJson, mapJson, mappingCsv, mappingTableJson } from './emit/table.js';
export { type Translation, Translator } from './emit/translate.js';
export { MapperError, type MapperErrorCode } from './errors.js';
export {
  canonicalIdentity,
  type IdentityForm,
  isMeshName,
  linkerdIdentity,
  MESH_NAMES,
  type MeshName,
  type ParsedIdentity,
  parseLinkerdIdentity,
  parseMeshIdentity,
  withoutScheme,
} from './identity.js';
export {
  type ExplainedSubject,
  type ExplainOptions,
  type Explanation,
  explainIdentity,
  identityKey,
  type MapOptions,
  type MappableWorkload,
  type MappedIdentity,
  type Mapping,
  type MappingResult,
  mapWorkloads,
  type PreviousMapping,
  type RuleVerdict,
  ruleLabel,
  type UnmappedWorkload,
} from './map.js';
export {
  hasBlocking,
  type IdentitySource,
  MAPPING_PROBLEM_CODES,
  type MappingProblem,
  type MappingProblemCode,
} from './problems.js';
export {
  type CompiledRule,
  canonicalJson,
  DEFAULT_PARENT_ID,
  explainRule,
  firstMatch,
  IdTemplate,
  loadRules,
  type MappingRules,
  type RuleCheck,
  type RuleSubject,
  type RulesDocument,
  RulesFileSchema,
  rulesFromObject,
  rulesHash,
} from './rules.js';
export {
  parseSpireEntryDump,
  prepareSpireEntrySync,
  type SpireDumpSummary,
  type SpireEntry,
  type SpireEntryDump,
  SpireEntryShowOutputSchema,
  summarizeSpireDump,
} from './spire/dump.js';
export {
  buildSpireEntries,
  type DesiredEntry,
  entryKey,
  isMeshbridgeOwned,
  MESHBRIDGE_HINT,
  ownerFromHint,
  ownershipHint,
  SpireEntriesFileSchema,
  type SpireRegistrationEntry,
  SpireRegistrationEntrySchema,
} from './spire/entries.js';
export { type PlanAction, type PlanItem, planSpireEntries, type SpirePlan } from './spire/plan.js';
