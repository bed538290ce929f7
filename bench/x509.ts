// X.509-SVID chain verification rate beside raw node:crypto: `npx tsx bench/x509.ts`.
import { benchX509, X509_RATIO_TARGET } from './lib/x509.js';

const result = await benchX509();
if (result.ratio < X509_RATIO_TARGET) {
  console.log(`below target: ratio ${result.ratio.toFixed(2)}`);
  process.exitCode = 1;
}
