import type { TestProject } from 'vitest/node';
import { PG_URL_ENV, setupPostgres } from './postgres.js';

// Services the suites share (PostgreSQL, moto) are started here once per run.
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const postgres = await setupPostgres();
  project.provide('meshbridgeTestPgUrl', postgres.url);
  project.provide('meshbridgeTestPgSkipped', postgres.skipped);
  if (postgres.url !== null) process.env[PG_URL_ENV] = postgres.url;
  return async () => {
    await postgres.stop();
  };
}
