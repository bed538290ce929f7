/**
 * Child process for the crash drills (not a test file): rotate one static key and
 * SIGKILL itself right after the step named on the command line, as a broker killed
 * mid-rotation would die. Run as
 *   node --import tsx rotation-crash-child.ts aws <moto-url> <secret-id> <step>
 *   node --import tsx rotation-crash-child.ts vault <vault-url> <kv-location> <step>
 * with VAULT_TOKEN in the environment for vault.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AwsSecretsManagerBackend } from '../../../src/credential-broker/backends/aws-secrets-manager.js';
import type { RotatingSecretStore, RotationStep } from '../../../src/credential-broker/backends/backend.js';
import { VaultBackend } from '../../../src/credential-broker/backends/vault.js';

const [kind, url, location, crashAt] = process.argv.slice(2) as [string, string, string, RotationStep];

const store: RotatingSecretStore =
  kind === 'aws'
    ? new AwsSecretsManagerBackend({
        client: new SecretsManagerClient({
          region: 'us-east-1',
          endpoint: url,
          credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
        }),
      })
    : new VaultBackend({ address: url, token: process.env.VAULT_TOKEN ?? '' });

await store.rotate(location, undefined, {
  onStep: (step) => {
    if (step === crashAt) process.kill(process.pid, 'SIGKILL');
  },
});
// Reaching here means the step never came: exit with a code the parent can tell apart.
process.exit(3);
