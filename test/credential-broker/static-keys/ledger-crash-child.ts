/**
 * Child process for the ledger crash drills (not a test file): advance one static key
 * through the ledger, which rotates it through the backend, and SIGKILL itself at the
 * named point, as an operator's `meshbridge keys advance` killed mid-way would die:
 *
 *   node --import tsx ledger-crash-child.ts <db-target> aws <moto-url> <key> <point>
 *   node --import tsx ledger-crash-child.ts <db-target> vault <vault-url> <key> <point>
 *
 * <point>: a rotation step of the backend (marked | staged | promoted | cleared), or
 * `before-ledger` (the backend is done, the ledger update has not happened).
 * VAULT_TOKEN comes from the environment.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AwsSecretsManagerBackend } from '../../../src/credential-broker/backends/aws-secrets-manager.js';
import type { RotatingSecretStore } from '../../../src/credential-broker/backends/backend.js';
import { VaultBackend } from '../../../src/credential-broker/backends/vault.js';
import { StaticKeyLedger } from '../../../src/credential-broker/static-keys/index.js';
import { openStore } from '../../../src/store/index.js';

const [db, kind, url, name, point] = process.argv.slice(2) as [string, string, string, string, string];

const secretStore: RotatingSecretStore =
  kind === 'aws'
    ? new AwsSecretsManagerBackend({
        client: new SecretsManagerClient({
          region: 'us-east-1',
          endpoint: url,
          credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
        }),
      })
    : new VaultBackend({ address: url, token: process.env.VAULT_TOKEN ?? '' });

const die = () => process.kill(process.pid, 'SIGKILL');
const store = await openStore(db);
const ledger = new StaticKeyLedger({
  store,
  secretStores: () => secretStore,
  hooks: {
    onRotationStep: (step) => {
      if (step === point) die();
    },
    beforeLedgerUpdate: () => {
      if (point === 'before-ledger') die();
    },
  },
});
await ledger.advance(name, { by: 'doomed-operator' });
// Reaching here means the point never came: exit with a code the parent can tell apart.
process.exit(3);
