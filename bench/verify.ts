// The kernel's verification rates beside raw node:crypto on the same signatures, in
// one process: `npx tsx bench/verify.ts` (issue 2: each ratio at least 0.6).
import { benchJwt, JWT_RATIO_TARGET } from './lib/jwt.js';
import { benchX509, X509_RATIO_TARGET } from './lib/x509.js';

const x509 = await benchX509();
const jwt = await benchJwt();
console.log('\nsummary');
console.log(`  X.509-SVID  ratio ${x509.ratio.toFixed(2)} (target >= ${X509_RATIO_TARGET})`);
for (const r of jwt)
  console.log(`  JWT ${r.alg.padEnd(6)}  ratio ${r.ratio.toFixed(2)} (target >= ${JWT_RATIO_TARGET})`);
if (x509.ratio < X509_RATIO_TARGET || jwt.some((r) => r.ratio < JWT_RATIO_TARGET)) process.exitCode = 1;
