// JWT-SVID verification rate beside raw node:crypto: `npx tsx bench/jwt.ts`.
import { benchJwt, JWT_RATIO_TARGET } from './lib/jwt.js';

const results = await benchJwt();
const short = results.filter((r) => r.ratio < JWT_RATIO_TARGET);
if (short.length > 0) {
  console.log(`below target: ${short.map((r) => `${r.alg} ${r.ratio.toFixed(2)}`).join(', ')}`);
  process.exitCode = 1;
}
