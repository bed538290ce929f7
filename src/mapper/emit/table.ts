/**
 * The mapping table itself: `map --json` (the contract), `mapping.json` (the table with
 * owners, for people and the dashboard) and `mapping.csv` (RFC 4180).
 */
import type { MappingResult } from '../map.js';
import type { MappingProblem } from '../problems.js';

/** The JSON contract of `meshbridge map --json`. */
export interface MapJson {
  trustDomain: string;
  rulesHash: string;
  mappings: {
    fingerprint: string;
    mesh: string | null;
    cluster: string | null;
    meshIdentity: string;
    spiffeId: string;
    rule: number;
    owner: string | null;
  }[];
  unmapped: { fingerprint: string; meshIdentity: string | null }[];
  problems: MappingProblem[];
}

export function mapJson(result: MappingResult, extraProblems: readonly MappingProblem[] = []): MapJson {
  return {
    trustDomain: result.trustDomain,
    rulesHash: result.rulesHash,
    mappings: result.mappings.map((m) => ({
      fingerprint: m.fingerprint,
      mesh: m.mesh,
      cluster: m.cluster,
      meshIdentity: m.meshIdentity,
      spiffeId: m.spiffeId,
      rule: m.rule,
      owner: m.owner,
    })),
    unmapped: result.unmapped.map((u) => ({ fingerprint: u.fingerprint, meshIdentity: u.meshIdentity })),
    problems: [...result.problems, ...extraProblems],
  };
}

export const CSV_COLUMNS = [
  'fingerprint',
  'mesh',
  'cluster',
  'meshIdentity',
  'spiffeId',
  'rule',
  'owner',
] as const;

export function mappingCsv(result: MappingResult): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const m of result.mappings) {
    lines.push(
      [
        m.fingerprint,
        m.mesh ?? '',
        m.cluster ?? '',
        m.meshIdentity,
        m.spiffeId,
        String(m.rule),
        m.owner ?? '',
      ]
        .map(csvField)
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

export function mappingTableJson(result: MappingResult): Record<string, unknown> {
  return {
    trustDomain: result.trustDomain,
    rulesHash: result.rulesHash,
    rulesVersion: result.rulesVersion,
    mappings: result.mappings.map((m) => ({
      fingerprint: m.fingerprint,
      mesh: m.mesh,
      cluster: m.cluster,
      meshIdentity: m.meshIdentity,
      spiffeId: m.spiffeId,
      rule: m.rule,
      owner: m.owner,
    })),
    unmapped: result.unmapped.map((u) => ({ fingerprint: u.fingerprint, meshIdentity: u.meshIdentity })),
  };
}

export function csvField(v: string): string {
  // Quote when needed; neutralise spreadsheet formulas (a leading = + - @).
  const safe = /^[=+\-@]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) || safe !== v ? `"${safe.replace(/"/g, '""')}"` : safe;
}
