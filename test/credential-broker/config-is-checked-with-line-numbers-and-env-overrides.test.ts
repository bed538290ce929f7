import { describe, expect, it } from 'vitest';
import { parseBrokerConfig } from '../../src/credential-broker/config.js';
import type { BrokerError } from '../../src/credential-broker/errors.js';

const GOOD = `# other sections of meshbridge.yaml belong to other features
dashboard: { listen: 127.0.0.1:9000 }
broker:
  listen: { port: 9443 }
  tls: { cert: certs/broker.pem, key: certs/broker.key }
  trust:
    - { kind: spire, trustDomain: example.org, bundles: [certs/bundle.pem] }
  policy: policy.yaml
  backends:
    - { type: ephemeral }
    - { type: vault, name: vault-prod, address: "https://vault:8200", tokenEnv: VAULT_BROKER_TOKEN }
  sweeper: { interval: 1m }
`;

function problemsOf(text: string): string[] {
  try {
    parseBrokerConfig(text, { baseDir: '/etc/meshbridge', env: {} });
  } catch (err) {
    expect((err as BrokerError).code).toBe('CONFIG_INVALID');
    return (err as BrokerError).details?.problems as string[];
  }
  throw new Error('config accepted');
}

describe('broker config', () => {
  it('reads the broker: section of meshbridge.yaml with defaults and absolute paths', () => {
    const c = parseBrokerConfig(GOOD, { baseDir: '/etc/meshbridge', env: {} });
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 9443 });
    expect(c.tls).toEqual({
      cert: '/etc/meshbridge/certs/broker.pem',
      key: '/etc/meshbridge/certs/broker.key',
    });
    expect(c.trust[0]?.bundles).toEqual(['/etc/meshbridge/certs/bundle.pem']);
    expect(c.policy).toBe('/etc/meshbridge/policy.yaml');
    expect(c.backends.map((b) => b.name ?? b.type)).toEqual(['ephemeral', 'vault-prod']);
    expect(c.sweeper).toEqual({ enabled: true, intervalSeconds: 60, claimTtlSeconds: 300 });
    expect(c.rateLimit).toEqual({ ratePerSecond: 50, burst: 100 });
    expect(c.retryAfterSeconds).toBe(5);
  });

  it('takes environment overrides', () => {
    const c = parseBrokerConfig(GOOD, {
      baseDir: '/etc/meshbridge',
      env: {
        MESHBRIDGE_BROKER_PORT: '10443',
        MESHBRIDGE_BROKER_HOST: '0.0.0.0',
        MESHBRIDGE_BROKER_POLICY: '/srv/policy.yaml',
        MESHBRIDGE_BROKER_AUDIENCE: 'a, b',
        MESHBRIDGE_DB: 'postgres://u@db/meshbridge',
      },
    });
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 10443 });
    expect(c.policy).toBe('/srv/policy.yaml');
    expect(c.audience).toEqual(['a', 'b']);
    expect(c.store).toBe('postgres://u@db/meshbridge');
    expect(() => parseBrokerConfig(GOOD, { env: { MESHBRIDGE_BROKER_PORT: 'http' } })).toThrow(
      /MESHBRIDGE_BROKER_PORT/,
    );
  });

  it('reports problems at their line inside the broker section', () => {
    const p = problemsOf(`broker:
  listen: { port: 99999 }
  tls: { cert: a.pem }
  policy: policy.yaml
  backends:
    - { type: ephemeral, signingKey: short }
    - { type: ephemeral }
  trust: []
  colour: blue
`);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^meshbridge\.yaml:2:19: \/broker\/listen\/port /),
        expect.stringMatching(/^meshbridge\.yaml:3:8: \/broker\/tls\/key /),
        expect.stringMatching(/^meshbridge\.yaml:9:11: \/broker\/colour Unexpected property/),
      ]),
    );
    // One problem a path: the missing key is not reported a second time as "Expected string".
    expect(p.filter((l) => l.includes('/broker/tls/key '))).toEqual([
      expect.stringMatching(/\/broker\/tls\/key Expected required property$/),
    ]);
    const q = problemsOf(`broker:
  tls: { cert: a.pem, key: a.key }
  trust: [{ kind: spire, trustDomain: example.org, bundles: [b.pem] }]
  policy: policy.yaml
  backends:
    - { type: ephemeral, signingKey: short }
    - { type: ephemeral }
    - { type: ephemeral }
`);
    expect(q).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^meshbridge\.yaml:6:7: \/broker\/backends\/0 backend config is invalid/),
        expect.stringMatching(/^meshbridge\.yaml:8:7: two backends are named "ephemeral"/),
      ]),
    );
  });

  it('needs a serving certificate and something to trust', () => {
    const p = problemsOf(`broker:\n  policy: p.yaml\n  backends: [{ type: ephemeral }]\n`);
    expect(p.join('\n')).toContain('needs a serving certificate');
    expect(p.join('\n')).toContain('trusts nothing');
  });
});
