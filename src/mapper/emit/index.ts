/**
 * Emitters: a mapping in, files out (path relative to `--out`, content). Pure: the CLI
 * writes the files, and only when no blocking problem exists.
 *
 * | emitter            | files |
 * |--------------------|-------|
 * | `spire-entries`    | `spire/entries.json` (`entry create -data`), and against a stored `entry show -output json` dump: `spire/plan.json`, `spire/create.json`, `spire/update.json` |
 * | `cluster-spiffeid` | `cluster-spiffeid/<cluster>.yaml` |
 * | `istio`            | `istio/istio-operator.yaml`, `istio/values.yaml`, `istio/authorization-policies.cutover.yaml`, `istio/authorization-policies.final.yaml` |
 * | `linkerd`          | `linkerd/meshtls-authentications.cutover.yaml`, `linkerd/meshtls-authentications.final.yaml` |
 * | `csv`              | `mapping.csv` |
 * | `json`             | `mapping.json` |
 */
import { stringify } from 'yaml';
import { MapperError } from '../errors.js';
import type { MappingResult } from '../map.js';
import type { MappingProblem } from '../problems.js';
import type { MappingRules } from '../rules.js';
import type { SpireEntry } from '../spire/dump.js';
import { buildSpireEntries, entriesFile } from '../spire/entries.js';
import { planSpireEntries, type SpirePlan } from '../spire/plan.js';
import { emitClusterSpiffeIds } from './cluster-spiffeid.js';
import { emitIstio } from './istio.js';
import { emitLinkerd } from './linkerd.js';
import type { PolicyObject } from './policies.js';
import { mappingCsv, mappingTableJson } from './table.js';
import { Translator } from './translate.js';

export const EMITTERS = ['spire-entries', 'cluster-spiffeid', 'istio', 'linkerd', 'csv', 'json'] as const;
export type EmitterName = (typeof EMITTERS)[number];

export interface EmitInput {
  rules: MappingRules;
  result: MappingResult;
  emit: readonly EmitterName[];
  /** The stored SPIRE entries (`meshbridge spire sync --entries`), for the plan. */
  spireDump?: { entries: readonly SpireEntry[]; id?: string; importedAt?: string; source?: string } | null;
  /** The team's AuthorizationPolicies / MeshTLSAuthentications. */
  policies?: readonly PolicyObject[];
}

export interface EmittedFile {
  /** Relative to the output folder, `/`-separated. */
  path: string;
  content: string;
  description: string;
}

export interface EmitOutput {
  files: EmittedFile[];
  problems: MappingProblem[];
  plan: SpirePlan | null;
}

/** `--emit a,b --emit c` → the emitter names, in canonical order, each once. */
export function parseEmitList(values: readonly string[]): EmitterName[] {
  const wanted = new Set<string>();
  for (const v of values) for (const part of v.split(',')) if (part.trim() !== '') wanted.add(part.trim());
  for (const w of wanted) {
    if (!(EMITTERS as readonly string[]).includes(w)) {
      throw new MapperError('EMITTER_UNKNOWN', `unknown emitter "${w}"; choose from ${EMITTERS.join(', ')}`, {
        details: { emitter: w },
      });
    }
  }
  return EMITTERS.filter((e) => wanted.has(e));
}

export function emit(input: EmitInput): EmitOutput {
  const { rules, result } = input;
  const files: EmittedFile[] = [];
  const problems: MappingProblem[] = [];
  let plan: SpirePlan | null = null;
  const want = new Set(input.emit);
  const policies = input.policies ?? [];
  const translator = want.has('istio') || want.has('linkerd') ? new Translator(rules, result) : null;

  if (want.has('spire-entries')) {
    const built = buildSpireEntries(rules, result);
    problems.push(...built.problems);
    files.push({
      path: 'spire/entries.json',
      content: json(entriesFile(built.entries.map((e) => e.entry))),
      description: `${built.entries.length} registration entries for \`spire-server entry create -data\``,
    });
    if (input.spireDump) {
      plan = planSpireEntries(built.entries, input.spireDump.entries);
      problems.push(...plan.problems);
      files.push({
        path: 'spire/plan.json',
        content: json({
          against: {
            dump: input.spireDump.id ?? null,
            importedAt: input.spireDump.importedAt ?? null,
            source: input.spireDump.source ?? null,
            entries: input.spireDump.entries.length,
          },
          ownership:
            'entries whose hint is "meshbridge" or starts with "meshbridge:" were created by meshbridge; no other entry is ever proposed for deletion',
          summary: plan.summary,
          items: plan.items,
        }),
        description: `plan: ${plan.summary.create} create, ${plan.summary.update} update, ${plan.summary.keep} keep, ${plan.summary.wouldDelete} would-delete`,
      });
      if (plan.createFile.entries.length > 0) {
        files.push({
          path: 'spire/create.json',
          content: json(plan.createFile),
          description: `${plan.createFile.entries.length} entries to create (\`entry create -data\`)`,
        });
      }
      if (plan.updateFile.entries.length > 0) {
        files.push({
          path: 'spire/update.json',
          content: json(plan.updateFile),
          description: `${plan.updateFile.entries.length} entries to update (\`entry update -data\`)`,
        });
      }
    }
  }

  if (want.has('cluster-spiffeid')) {
    for (const f of emitClusterSpiffeIds(rules, result)) {
      const name = f.cluster ?? 'no-cluster';
      files.push({
        path: `cluster-spiffeid/${safeFileName(name)}.yaml`,
        content: yamlDocs(f.manifests, [
          `ClusterSPIFFEIDs for cluster ${f.cluster ?? '(none given at import)'}, made by meshbridge from rules ${rules.hash}.`,
          'Apply them where spire-controller-manager runs for this cluster. It reconciles the entries of its',
          'SPIRE server (see its entryIDPrefix setting): use these or spire/entries.json for a server, not both.',
        ]),
        description: `${f.manifests.length} ClusterSPIFFEIDs for cluster ${f.cluster ?? '(none)'}`,
      });
    }
  }

  if (want.has('istio') && translator !== null) {
    const out = emitIstio(rules, result, policies, translator);
    problems.push(...out.problems);
    files.push({
      path: 'istio/istio-operator.yaml',
      content: yamlDocs(
        [out.istioOperator],
        ['meshConfig.trustDomain and trustDomainAliases: old principals keep matching during the cutover.'],
      ),
      description: `IstioOperator overlay: trustDomain ${out.trustDomain}, aliases ${out.trustDomainAliases.join(', ') || '(none)'}`,
    });
    files.push({
      path: 'istio/values.yaml',
      content: yamlDocs([out.helmValues], ['istiod Helm values: the same meshConfig.']),
      description: 'istiod Helm values (meshConfig)',
    });
    if (out.cutover.length > 0) {
      files.push({
        path: 'istio/authorization-policies.cutover.yaml',
        content: yamlDocs(out.cutover, [
          'AuthorizationPolicies naming old and new principals: apply for the cutover.',
        ]),
        description: `${out.cutover.length} AuthorizationPolicies (old and new principals)`,
      });
      files.push({
        path: 'istio/authorization-policies.final.yaml',
        content: yamlDocs(out.final, [
          'AuthorizationPolicies naming only the new principals: apply when the cutover ends.',
        ]),
        description: `${out.final.length} AuthorizationPolicies (new principals only)`,
      });
    }
  }

  if (want.has('linkerd') && translator !== null) {
    const out = emitLinkerd(rules, policies, translator);
    problems.push(...out.problems);
    if (out.cutover.length > 0) {
      files.push({
        path: 'linkerd/meshtls-authentications.cutover.yaml',
        content: yamlDocs(out.cutover, [
          'MeshTLSAuthentications naming old identities and new SPIFFE IDs: apply for the cutover.',
        ]),
        description: `${out.cutover.length} MeshTLSAuthentications (old and new identities)`,
      });
      files.push({
        path: 'linkerd/meshtls-authentications.final.yaml',
        content: yamlDocs(out.final, [
          'MeshTLSAuthentications naming only the SPIFFE IDs: apply when the cutover ends.',
        ]),
        description: `${out.final.length} MeshTLSAuthentications (SPIFFE IDs only)`,
      });
    }
  }

  if (want.has('csv')) {
    files.push({
      path: 'mapping.csv',
      content: mappingCsv(result),
      description: `${result.mappings.length} mappings (CSV)`,
    });
  }
  if (want.has('json')) {
    files.push({
      path: 'mapping.json',
      content: json(mappingTableJson(result)),
      description: `${result.mappings.length} mappings (JSON)`,
    });
  }
  return { files, problems, plan };
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function yamlDocs(docs: readonly unknown[], header: string[]): string {
  const head = header.map((l) => `# ${l}`).join('\n');
  const body = docs.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
  return `${head}\n${body === '' ? '' : `---\n${body}`}`;
}

function safeFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_') || '_';
}
