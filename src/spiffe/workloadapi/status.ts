import { status as GrpcStatus, type StatusObject } from '@grpc/grpc-js';
import { SpiffeError } from '../errors.js';

/**
 * Turns a gRPC status into a SpiffeError with a stable code (rule 79):
 * - InvalidArgument  -> WORKLOAD_API_INVALID_ARGUMENT (report, never retry)
 * - Unavailable      -> WORKLOAD_API_UNAVAILABLE (retry with backoff)
 * - PermissionDenied -> WORKLOAD_API_PERMISSION_DENIED (report, drop SVIDs, retry with backoff)
 * - Unimplemented    -> WORKLOAD_API_UNIMPLEMENTED (never retry)
 * - anything else    -> WORKLOAD_API_TIMEOUT / WORKLOAD_API_CANCELLED / WORKLOAD_API_ERROR (retry)
 */
export function errorFromStatus(rpc: string, st: Partial<StatusObject>): SpiffeError {
  const code = st.code ?? GrpcStatus.UNKNOWN;
  const details = { rpc, grpcCode: GrpcStatus[code] ?? String(code), grpcDetails: st.details ?? '' };
  const what = `Workload API ${rpc}`;
  // grpc-js ends connection failures with an empty "Resolution note: ".
  const text = (st.details ?? '').replace(/\s*Resolution note:\s*$/, '').trim();
  const why = text === '' ? '' : `: ${text}`;
  switch (code) {
    case GrpcStatus.INVALID_ARGUMENT:
      return new SpiffeError('WORKLOAD_API_INVALID_ARGUMENT', 'input', `${what} rejected the request${why}`, {
        rule: 79,
        details,
      });
    case GrpcStatus.UNAVAILABLE:
      return new SpiffeError('WORKLOAD_API_UNAVAILABLE', 'unavailable', `${what} is unavailable${why}`, {
        rule: 79,
        details,
      });
    case GrpcStatus.PERMISSION_DENIED:
      return new SpiffeError(
        'WORKLOAD_API_PERMISSION_DENIED',
        'denied',
        `${what}: no identity issued to this workload${why}`,
        { rule: 96, details },
      );
    case GrpcStatus.UNIMPLEMENTED:
      return new SpiffeError('WORKLOAD_API_UNIMPLEMENTED', 'not-found', `${what} is not implemented${why}`, {
        rule: 79,
        details,
      });
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new SpiffeError('WORKLOAD_API_TIMEOUT', 'unavailable', `${what} timed out${why}`, { details });
    case GrpcStatus.CANCELLED:
      return new SpiffeError('WORKLOAD_API_CANCELLED', 'unavailable', `${what} was cancelled${why}`, {
        details,
      });
    default:
      return new SpiffeError(
        'WORKLOAD_API_ERROR',
        'unavailable',
        `${what} failed (${details.grpcCode})${why}`,
        {
          details,
        },
      );
  }
}

/** Rule 79: InvalidArgument and Unimplemented are final; everything else is retried with backoff. */
export function isRetryable(err: SpiffeError): boolean {
  return err.code !== 'WORKLOAD_API_INVALID_ARGUMENT' && err.code !== 'WORKLOAD_API_UNIMPLEMENTED';
}
