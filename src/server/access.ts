/**
 * Who may look at the dashboard and its API.
 *
 * - On a listener bound to 127.0.0.1 / ::1 / localhost (and `access.requireAuth` not
 *   set), anyone who can reach it: only this machine can.
 * - On any other address (127.0.0.2 included: that is a choice to be reached some other
 *   way), every request needs an admin token (`Authorization: Bearer <token>`, compared
 *   in constant time against `access.tokens`) or an admin SVID: a TLS client
 *   certificate (on the broker's HTTPS listener) that verifies against the trust bundle
 *   and whose SPIFFE ID is one of `access.adminIds`. Anything else gets 401 (403 for a
 *   valid SVID that is not an admin), as `{"error":{"code","message"}}`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CodedError } from '../spiffe/errors.js';
import type { AdminToken } from './config.js';
import { ServerError } from './errors.js';

export interface AccessOptions {
  tokens: readonly AdminToken[];
  adminIds: readonly string[];
  /** Local ports whose listener answers without asking who is there. */
  isOpenPort: (port: number) => boolean;
  /** Verifies the client certificate of a TLS connection; the SPIFFE ID, or undefined when none was sent. */
  verifyClient?: (socket: TLSSocket) => string | undefined;
}

export type Guard = (req: FastifyRequest, reply: FastifyReply) => void;

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** True when `presented` equals one of the tokens; every token is compared, in constant time. */
export function tokenMatches(presented: string, tokens: readonly AdminToken[]): boolean {
  const p = digest(presented);
  let ok = false;
  for (const t of tokens) {
    if (t.value === undefined) continue;
    // Digests have one length, so timingSafeEqual never throws and length is not leaked.
    if (timingSafeEqual(p, digest(t.value))) ok = true;
  }
  return ok;
}

export function accessGuard(o: AccessOptions): Guard {
  const admins = new Set(o.adminIds);
  return (req) => {
    const socket = req.raw.socket;
    if (o.isOpenPort(socket.localPort ?? -1)) return;
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (m !== null && tokenMatches(m[1]!, o.tokens)) return;
      throw new ServerError('UNAUTHENTICATED', 'the bearer token is not an admin token of this server');
    }
    if ((socket as TLSSocket).encrypted && o.verifyClient !== undefined) {
      let id: string | undefined;
      try {
        id = o.verifyClient(socket as TLSSocket);
      } catch (err) {
        const why = err instanceof CodedError ? `${err.message} [${err.code}]` : (err as Error).message;
        throw new ServerError('UNAUTHENTICATED', `the client certificate is not a valid SVID: ${why}`);
      }
      if (id !== undefined) {
        if (admins.has(id)) return;
        throw new ServerError('FORBIDDEN', `${id} is not one of access.adminIds`);
      }
    }
    throw new ServerError(
      'UNAUTHENTICATED',
      'this listener is not on loopback: present an admin token (Authorization: Bearer ...) or an admin SVID (mTLS)',
    );
  };
}
