export {
  type CaseResult,
  type CasesReport,
  loadPolicyCases,
  type PolicyCase,
  parsePolicyCases,
  runPolicyCases,
} from './cases.js';
export {
  type Allow,
  type Decision,
  type Deny,
  type EvaluationRequest,
  evaluate,
  inWindow,
  type Obtainable,
  obtainable,
} from './evaluate.js';
export { PolicyHolder, type PolicyHolderEvents, type ReloadResult } from './holder.js';
export {
  type BackendCatalog,
  type CompiledCredential,
  type CompiledRule,
  type CompiledWindow,
  type CompileOptions,
  compilePolicy,
  compileSubject,
  DEFAULT_MAX_TTL_SECONDS,
  DEFAULT_TTL_SECONDS,
  loadPolicyFile,
  type Policy,
} from './policy.js';
export { PolicySchema } from './schema.js';
