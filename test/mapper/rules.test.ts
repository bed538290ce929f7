import { describe, expect, it } from 'vitest';
import { MapperError } from '../../src/mapper/errors.js';
import { firstMatch, loadRules, rulesFromObject } from '../../src/mapper/rules.js';

const ISSUE_EXAMPLE = `trustDomain: prod.example.org
rules:
  - match: { mesh: istio, cluster: east, namespace: "payments-*" }
    spiffeId: "spiffe://{trustDomain}/k8s/{cluster}/ns/{namespace}/sa/{serviceAccount}"
  - match: { mesh: linkerd }
    spiffeId: "spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}"
defaults: { x509SvidTtl: 1h, jwtSvidTtl: 5m }
`;

function errorsOf(text: string): { line: number; column: number; message: string }[] {
  try {
    loadRules(text, 'rules.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(MapperError);
    expect((err as MapperError).code).toBe('RULES_INVALID');
    expect((err as MapperError).category).toBe('input');
    return (err as MapperError).details!.errors as { line: number; column: number; message: string }[];
  }
  throw new Error('expected RULES_INVALID');
}

describe('rules file', () => {
  it('reads the example of the issue: templates, globs, defaults as seconds', () => {
    const rules = loadRules(ISSUE_EXAMPLE, 'rules.yaml');
    expect(rules.trustDomain).toBe('prod.example.org');
    expect(rules.version).toBe(1);
    expect(rules.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rules.rules).toHaveLength(2);
    expect(rules.rules[0]!.x509SvidTtl).toBe(3600);
    expect(rules.rules[1]!.jwtSvidTtl).toBe(300);
    expect(rules.rules[0]!.line).toBe(3);
    expect(rules.rules[1]!.line).toBe(5);
    expect(rules.rules[0]!.defaultParent).toBe(true);
  });

  it('hashes the validated document: comments and formatting do not change it, content does', () => {
    const a = loadRules(ISSUE_EXAMPLE).hash;
    const reformatted = `# team rules\n${ISSUE_EXAMPLE.replace('{ x509SvidTtl: 1h, jwtSvidTtl: 5m }', '\n  jwtSvidTtl: 5m\n  x509SvidTtl: 1h')}`;
    expect(loadRules(reformatted).hash).toBe(a);
    expect(loadRules(ISSUE_EXAMPLE.replace('5m', '6m')).hash).not.toBe(a);
  });

  it('first matching rule wins; globs and lists match names', () => {
    const rules = rulesFromObject({
      trustDomain: 'td.example',
      rules: [
        {
          match: { mesh: 'istio', namespace: ['payments-*', 'billing'] },
          spiffeId: 'spiffe://{trustDomain}/pay/{serviceAccount}',
        },
        { match: { cluster: 'east-?' }, spiffeId: 'spiffe://{trustDomain}/east/{serviceAccount}' },
        { spiffeId: 'spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}' },
      ],
    });
    expect(firstMatch(rules, { mesh: 'istio', cluster: 'east-1', namespace: 'payments-eu' })?.index).toBe(0);
    expect(firstMatch(rules, { mesh: 'istio', cluster: 'east-1', namespace: 'billing' })?.index).toBe(0);
    expect(firstMatch(rules, { mesh: 'linkerd', cluster: 'east-1', namespace: 'payments-eu' })?.index).toBe(
      1,
    );
    expect(firstMatch(rules, { mesh: 'linkerd', cluster: 'east-10', namespace: 'x' })?.index).toBe(2);
    expect(firstMatch(rules, { mesh: null, cluster: null, namespace: null })?.index).toBe(2);
  });

  it('the owner travels from the rule, or from the defaults', () => {
    const rules = rulesFromObject({
      trustDomain: 'td.example',
      defaults: { owner: 'platform' },
      rules: [
        { match: { mesh: 'istio' }, spiffeId: 'spiffe://{trustDomain}/a/{serviceAccount}', owner: 'team-a' },
        { spiffeId: 'spiffe://{trustDomain}/b/{serviceAccount}' },
      ],
    });
    expect(rules.rules.map((r) => r.owner)).toEqual(['team-a', 'platform']);
  });

  describe('errors carry file:line:column', () => {
    const cases: { name: string; text: string; line: number; match: RegExp }[] = [
      {
        name: 'an unknown key, with the keys that are allowed',
        text: 'trustDomain: td.example\nrules:\n  - spiffeId: "spiffe://{trustDomain}/x/{serviceAccount}"\n    matches: { mesh: istio }\n',
        line: 4,
        match: /unknown key "matches"; expected one of .*match/,
      },
      {
        name: 'a missing spiffeId (reported at the rule)',
        text: 'trustDomain: td.example\nrules:\n  - match: { mesh: istio }\n',
        line: 3,
        match: /missing required key "spiffeId"/,
      },
      {
        name: 'an unknown mesh',
        text: 'trustDomain: td.example\nrules:\n  - match:\n      mesh: consul\n    spiffeId: "spiffe://{trustDomain}/x"\n',
        line: 4,
        match: /must be istio or linkerd/,
      },
      {
        name: 'a duration that is not one',
        text: 'trustDomain: td.example\nrules:\n  - spiffeId: "spiffe://{trustDomain}/x"\ndefaults:\n  x509SvidTtl: soon\n',
        line: 5,
        match: /not a duration/,
      },
      {
        name: 'an unknown placeholder',
        text: 'trustDomain: td.example\nrules:\n  - spiffeId: "spiffe://{trustDomain}/ns/{namespce}"\n',
        line: 3,
        match: /unknown placeholder \{namespce\}/,
      },
      {
        name: 'a template that never makes a SPIFFE ID (empty segment, rule A.10)',
        text: 'trustDomain: td.example\nrules:\n  - match: { mesh: istio }\n    spiffeId: "spiffe://{trustDomain}/ns//{namespace}"\n',
        line: 4,
        match: /does not make a SPIFFE ID.*A\.10/,
      },
      {
        name: 'a template without the scheme',
        text: 'trustDomain: td.example\nrules:\n  - spiffeId: "{trustDomain}/ns/{namespace}"\n',
        line: 3,
        match: /must start with spiffe:\/\//,
      },
      {
        name: 'an invalid trust domain (upper case, rule A.5)',
        text: 'trustDomain: Prod.Example.org\nrules:\n  - spiffeId: "spiffe://{trustDomain}/x"\n',
        line: 1,
        match: /not a trust domain name/,
      },
      {
        name: 'a YAML error (a key given twice)',
        text: 'trustDomain: td.example\nrules:\n  - spiffeId: "spiffe://{trustDomain}/x"\ntrustDomain: other.example\n',
        line: 4,
        match: /unique/i,
      },
      {
        name: 'an owner that cannot travel in a SPIRE hint',
        text: 'trustDomain: td.example\nrules:\n  - spiffeId: "spiffe://{trustDomain}/x"\n    owner: "team a"\n',
        line: 4,
        match: /owner must be a team name/,
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const errors = errorsOf(c.text);
        expect(errors.length).toBeGreaterThan(0);
        expect(errors[0]!.line).toBe(c.line);
        expect(errors[0]!.message).toMatch(c.match);
      });
    }

    it('lists every error, and the message names each with file:line:column', () => {
      const text =
        'trustDomain: td.example\nrules:\n  - spiffeId: "spiffe://{trustDomain}/{x}"\n  - spiffeId: 7\nextra: 1\n';
      try {
        loadRules(text, 'team/rules.yaml');
        throw new Error('expected an error');
      } catch (err) {
        const e = err as MapperError;
        expect(e.code).toBe('RULES_INVALID');
        expect(e.message).toMatch(/team\/rules\.yaml:4:\d+: .*must be a string/);
        expect(e.message).toMatch(/team\/rules\.yaml:5:1: unknown key "extra"/);
      }
    });
  });
});
