import { parseAllDocuments } from 'yaml';
import { ImportError } from '../errors.js';

export const DEFAULT_MAX_ALIAS_COUNT = 100;

/**
 * Parses multi-document YAML into plain values. Aliases are capped (`maxAliasCount`,
 * the yaml library's guard against "billion laughs" bombs); a document over the cap
 * or with a syntax error stops the import with a coded error.
 */
export function parseYamlDocuments(
  text: string,
  where: string,
  maxAliasCount = DEFAULT_MAX_ALIAS_COUNT,
): unknown[] {
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: false });
  } catch (err) {
    throw new ImportError('INPUT_YAML_MALFORMED', `${where} is not valid YAML: ${(err as Error).message}`, {
      details: { source: where },
      cause: err,
    });
  }
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  for (const [i, doc] of list.entries()) {
    const error = doc.errors[0];
    if (error !== undefined) {
      const line = error.linePos?.[0]?.line;
      throw new ImportError(
        'INPUT_YAML_MALFORMED',
        `${where}: YAML document ${i + 1} is malformed${line === undefined ? '' : ` at line ${line}`}: ${firstLine(error.message)}`,
        { details: { source: where, document: i + 1, ...(line === undefined ? {} : { line }) } },
      );
    }
    try {
      out.push(doc.toJS({ maxAliasCount }));
    } catch (err) {
      if (/alias/i.test((err as Error).message)) {
        throw new ImportError(
          'INPUT_YAML_ALIAS_LIMIT',
          `${where}: YAML document ${i + 1} expands more than ${maxAliasCount} aliases (a YAML bomb?); refusing to read it`,
          { details: { source: where, document: i + 1, maxAliasCount }, cause: err },
        );
      }
      throw new ImportError(
        'INPUT_YAML_MALFORMED',
        `${where}: YAML document ${i + 1}: ${(err as Error).message}`,
        {
          details: { source: where, document: i + 1 },
          cause: err,
        },
      );
    }
  }
  return out;
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}
