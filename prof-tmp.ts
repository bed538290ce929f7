import { readFileSync } from 'node:fs';
import { verify } from 'node:crypto';
import { dryRun, trustSet, verifyPeer } from './src/dual-trust/index.js';
import { parseCertificate } from './src/spiffe/x509/certificate.js';
import { verifyX509Svid, VerificationCache } from './src/spiffe/svid/x509svid/index.js';
const raw = JSON.parse(readFileSync('.cache/bench/bundle-verify-100000.json', 'utf8'));
const b = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const N = Number(process.env.N ?? 5000);
const leaves = raw.leaves.slice(0, N).map(([d, i]: [string, number]) => ({ der: b(d), issuer: i }));
const inters = raw.intermediates.map((s: string) => parseCertificate(b(s)));
const roots = raw.roots.map((s: string) => parseCertificate(b(s)));
const at = new Date(raw.at); const clock = () => at;
const bundle = trustSet(new Map([['cluster.local', roots]]));
const t = (label: string, fn: () => void) => { const t0 = performance.now(); fn(); const ms = performance.now() - t0; console.log(label, (ms * 1000 / N).toFixed(1), 'us/op'); };
for (let k = 0; k < 2; k++) {
t('parse', () => { for (const l of leaves) parseCertificate(l.der, { cache: false }); });
const parsed = leaves.map((l: any) => [parseCertificate(l.der, { cache: false }), inters[l.issuer]]);
t('raw verify', () => { for (const [c, i] of parsed) verify('sha256', c.tbs, { key: i.publicKey, dsaEncoding: 'der' }, c.signature); });
const cache = new VerificationCache(100000);
t('verifyX509Svid parsed', () => { for (const ch of parsed) verifyX509Svid(ch, bundle, { clock, cache }); });
const cache2 = new VerificationCache(100000);
t('verifyPeer parsed', () => { for (const ch of parsed) verifyPeer(ch, bundle, { clock, cache: cache2 }); });
t('dryRun parsed', () => { dryRun(parsed.map((chain: any) => ({ source: 'x', chain })), { bundle, clock }); });
}
