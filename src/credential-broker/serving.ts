/**
 * The broker's own serving certificate: from files (re-read when they change; a cert
 * and key that do not match yet, mid-rotation, are skipped until they do) or from a
 * SPIRE agent's X509Source. Every change is emitted so the HTTPS server can swap its
 * secure context without a restart.
 */
import { EventEmitter } from 'node:events';
import { readFileSync, statSync } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import { encodePem } from '../spiffe/pem/pem.js';
import type { SpiffeId } from '../spiffe/spiffeid/index.js';
import {
  keyMatchesCertificate,
  parsePrivateKey,
  spiffeIdFromCertificate,
} from '../spiffe/svid/x509svid/index.js';
import type { X509Source } from '../spiffe/workloadapi/index.js';
import { parseCertificates } from '../spiffe/x509/certificate.js';
import { BrokerError } from './errors.js';

export interface ServingMaterial {
  /** Leaf first, then the chain, PEM. */
  certPem: string;
  keyPem: string;
  /** The SPIFFE ID of the serving certificate, when it is an SVID. */
  id?: SpiffeId;
  notAfter: Date;
  /** SHA-256 of the leaf: changes on every rotation. */
  fingerprint: string;
}

export type ServingIdentityEvents = {
  update: [material: ServingMaterial];
  reloadError: [error: Error];
};

export class ServingIdentity extends EventEmitter<ServingIdentityEvents> {
  private material: ServingMaterial;
  private timer: NodeJS.Timeout | undefined;
  private stamps = '';
  private readonly detach: (() => void) | undefined;

  private constructor(
    material: ServingMaterial,
    private readonly files?: { cert: string; key: string },
    source?: X509Source,
  ) {
    super();
    this.material = material;
    if (files !== undefined) this.stamps = stampsOf(files);
    if (source !== undefined) {
      const onUpdate = () => {
        try {
          this.swap(fromSource(source));
        } catch (err) {
          this.emit('reloadError', err as Error);
        }
      };
      source.on('update', onUpdate);
      this.detach = () => source.off('update', onUpdate);
    }
  }

  static fromFiles(cert: string, key: string): ServingIdentity {
    return new ServingIdentity(readMaterial(cert, key), { cert, key });
  }

  static fromX509Source(source: X509Source): ServingIdentity {
    return new ServingIdentity(fromSource(source), undefined, source);
  }

  current(): ServingMaterial {
    return this.material;
  }

  secureContextOptions(): SecureContextOptions {
    return { cert: this.material.certPem, key: this.material.keyPem };
  }

  /** Polls the files every `intervalMs` (0 stops). */
  watch(intervalMs: number): void {
    this.unwatch();
    if (intervalMs <= 0 || this.files === undefined) return;
    const files = this.files;
    this.timer = setInterval(() => {
      const stamps = stampsOf(files);
      if (stamps === this.stamps) return;
      try {
        this.swap(readMaterial(files.cert, files.key));
        this.stamps = stamps;
      } catch (err) {
        // Mid-rotation (new cert, old key) or a broken file: keep serving the old one, try again.
        this.emit('reloadError', err as Error);
      }
    }, intervalMs);
    this.timer.unref();
  }

  unwatch(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.unwatch();
    this.detach?.();
  }

  private swap(next: ServingMaterial): void {
    if (next.fingerprint === this.material.fingerprint && next.keyPem === this.material.keyPem) return;
    this.material = next;
    this.emit('update', next);
  }
}

function readMaterial(certPath: string, keyPath: string): ServingMaterial {
  let certText: string;
  let keyText: string;
  try {
    certText = readFileSync(certPath, 'utf8');
    keyText = readFileSync(keyPath, 'utf8');
  } catch (err) {
    throw new BrokerError(
      'CONFIG_UNREADABLE',
      `cannot read the serving certificate: ${(err as Error).message}`,
    );
  }
  const certs = parseCertificates(certText);
  const leaf = certs[0];
  if (leaf === undefined) throw new BrokerError('CONFIG_INVALID', `${certPath} holds no certificate`);
  const key = parsePrivateKey(keyText);
  if (!keyMatchesCertificate(key, leaf)) {
    throw new BrokerError('CONFIG_INVALID', `${keyPath} is not the key of the certificate in ${certPath}`);
  }
  return {
    certPem: certs.map((c) => encodePem('CERTIFICATE', c.der)).join(''),
    keyPem: key.export({ format: 'pem', type: 'pkcs8' }).toString(),
    ...idOf(leaf),
    notAfter: leaf.notAfter,
    fingerprint: leaf.fingerprint,
  };
}

function fromSource(source: X509Source): ServingMaterial {
  const svid = source.getX509Svid();
  const leaf = svid.certificates[0]!;
  return {
    certPem: svid.certificates.map((c) => encodePem('CERTIFICATE', c.der)).join(''),
    keyPem: svid.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    id: svid.id,
    notAfter: leaf.notAfter,
    fingerprint: leaf.fingerprint,
  };
}

function idOf(leaf: Parameters<typeof spiffeIdFromCertificate>[0]): { id?: SpiffeId } {
  try {
    return { id: spiffeIdFromCertificate(leaf) };
  } catch {
    return {};
  }
}

function stampsOf(files: { cert: string; key: string }): string {
  return [files.cert, files.key]
    .map((p) => {
      try {
        const st = statSync(p);
        return `${st.size}:${st.mtimeMs}:${st.ino}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}
