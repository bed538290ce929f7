/**
 * One broker process for the scale-out test: `node --import tsx broker-child.ts
 * <meshbridge.yaml> <revocation-log> <instance>`. Serves until SIGTERM; every
 * downstream revocation is appended to the shared log file. Prints `READY <url>`.
 */
import { loadBrokerConfig } from '../../../src/credential-broker/config.js';
import { createBrokerServer } from '../../../src/credential-broker/server.js';
import { CountingBackend } from './counting-backend.js';

const [configPath, revocationLog, instance] = process.argv.slice(2);
if (configPath === undefined || revocationLog === undefined || instance === undefined) {
  console.error('usage: broker-child.ts <config> <revocation-log> <instance>');
  process.exit(2);
}
const config = loadBrokerConfig(configPath, process.env);
const backend = new CountingBackend('ephemeral', revocationLog);
const server = await createBrokerServer(config, {
  backends: new Map([['ephemeral', backend]]),
  instance,
  logDestination: { write: () => true } as unknown as import('pino').DestinationStream,
});
const url = await server.listen();
process.stdout.write(`READY ${url}\n`);
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
