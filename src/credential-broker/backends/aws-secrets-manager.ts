/**
 * AWS Secrets Manager: static secrets read at a version stage (a broker credential), and
 * the rotation of a static key by the staged sequence AWS's own rotation functions use:
 *
 *   1. PutSecretValue(VersionStages=[AWSPENDING])              -> 'staged'
 *   2. UpdateSecretVersionStage(AWSCURRENT, MoveTo=new,
 *                               RemoveFrom=old)                 -> 'promoted' (AWS moves
 *      AWSPREVIOUS onto the old version by itself, so it stays readable for rollback)
 *   3. UpdateSecretVersionStage(AWSPENDING, RemoveFrom=new)    -> 'cleared'
 *
 * A process killed between the steps leaves AWSPENDING on a version; `pendingRotation`
 * reports it ('staged': not yet current; 'promoted': current, label not cleared) and
 * `finishRotation` / `undoRotation` complete or reverse it. The pending value is stored
 * in AWS, so there is never a value nobody knows.
 *
 * Retirement is DeleteSecret with a recovery window (AWS allows 7 to 30 days), never
 * ForceDeleteWithoutRecovery; RestoreSecret undoes it within that window.
 *
 * Endpoint, region and credentials come from the SDK's standard chain (AWS_REGION,
 * AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, profiles, roles); config may set region/endpoint.
 */
import { randomUUID } from 'node:crypto';
import {
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  type GetSecretValueCommandOutput,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  SecretsManagerClient,
  type SecretsManagerClientConfig,
  type SecretVersionsListEntry,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { type Clock, systemClock } from '../../spiffe/errors.js';
import type {
  BackendHealth,
  CredentialBackend,
  IssuedCredential,
  IssueRequest,
  PendingRotation,
  RecoveryResult,
  RestoreResult,
  RetireOptions,
  RetireResult,
  RollbackOptions,
  RotateOptions,
  RotatingSecretStore,
  RotationResult,
  SecretDescription,
  SecretValue,
  StaticSecret,
} from './backend.js';
import { BackendError, type BackendErrorCode, networkErrorCode, redactSecrets } from './errors.js';
import { generateNextValue } from './random.js';

export const AWSCURRENT = 'AWSCURRENT';
export const AWSPENDING = 'AWSPENDING';
export const AWSPREVIOUS = 'AWSPREVIOUS';

export interface AwsSecretsManagerBackendOptions {
  name?: string;
  /** A ready client (tests, custom middleware); otherwise one is built from the options below. */
  client?: SecretsManagerClient;
  region?: string;
  endpoint?: string;
  maxAttempts?: number;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  restoreWindowSeconds?: number;
  clock?: Clock;
}

interface ReadSecret {
  arn: string;
  versionId: string;
  stages: string[];
  value: SecretValue;
  /** 'plain' secrets are written back as a plain string. */
  format: 'json' | 'plain' | 'binary';
  /** The parsed JSON object, to keep non-string field types when a field is replaced. */
  json?: Record<string, unknown>;
  createdAt?: Date;
}

interface StageState {
  arn: string;
  stages: Map<string, string[]>;
  current: string;
  previous?: string;
  pending?: string;
  /** Set while the secret is scheduled for deletion: when AWS deletes it for good. */
  deletedDate?: Date;
}

const SERVICE = 'AWS Secrets Manager';
/** AWS keeps about 100 versions per secret; 20 pages of 100 is far beyond any real listing. */
const MAX_PAGES = 20;

export class AwsSecretsManagerBackend implements CredentialBackend, RotatingSecretStore {
  readonly kind = 'aws-secrets-manager' as const;
  readonly name: string;
  private readonly client: SecretsManagerClient;
  private readonly ownsClient: boolean;
  private readonly restoreWindowSeconds: number | undefined;
  private readonly clock: Clock;

  constructor(options: AwsSecretsManagerBackendOptions = {}) {
    this.name = options.name ?? 'aws-secrets-manager';
    this.clock = options.clock ?? systemClock;
    this.restoreWindowSeconds = options.restoreWindowSeconds;
    if (options.client !== undefined) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      const config: SecretsManagerClientConfig = {
        requestHandler: {
          connectionTimeout: options.connectTimeoutMs ?? 3000,
          requestTimeout: options.requestTimeoutMs ?? 10_000,
        },
      };
      if (options.region !== undefined) config.region = options.region;
      if (options.endpoint !== undefined) config.endpoint = options.endpoint;
      if (options.maxAttempts !== undefined) config.maxAttempts = options.maxAttempts;
      this.client = new SecretsManagerClient(config);
      this.ownsClient = true;
    }
  }

  // ------------------------------------------------------------ CredentialBackend

  async issue(request: IssueRequest): Promise<IssuedCredential> {
    const spec = request.spec;
    if (spec.type !== 'aws-secrets-manager')
      throw new BackendError(
        'BACKEND_SPEC_INVALID',
        `credential ${request.credential} is of type ${spec.type}; the AWS Secrets Manager backend cannot issue it`,
      );
    if (!Number.isInteger(request.ttlSeconds) || request.ttlSeconds < 1)
      throw new BackendError('BACKEND_SPEC_INVALID', `the TTL must be a whole number of seconds >= 1`);
    const read = await this.read(
      spec.secretId,
      spec.versionId !== undefined
        ? { versionId: spec.versionId }
        : { versionStage: spec.versionStage ?? AWSCURRENT },
    );
    let secret = read.value;
    if (spec.fields !== undefined) {
      const missing = spec.fields.filter((f) => !(f in read.value));
      if (missing.length > 0)
        throw new BackendError(
          'BACKEND_SPEC_INVALID',
          `secret ${spec.secretId} has no field ${missing.join(', ')}; fix the credential's fields`,
        );
      secret = Object.fromEntries(spec.fields.map((f) => [f, read.value[f] as string]));
    }
    return {
      secret,
      expiresAt: new Date(this.clock().getTime() + request.ttlSeconds * 1000),
      reference: `${read.arn}#${read.versionId}`,
    };
  }

  /**
   * Static secrets cannot be withdrawn from one caller: nothing to do. (`issue` returns
   * no backendLeaseId, so the broker has nothing to pass here.)
   */
  async revoke(_backendLeaseId: string): Promise<void> {}

  async health(): Promise<BackendHealth> {
    const checkedAt = this.clock();
    try {
      await this.call('ListSecrets', '*', () => this.client.send(new ListSecretsCommand({ MaxResults: 1 })));
      return { ok: true, status: 'up', checkedAt };
    } catch (err) {
      const e = err as BackendError;
      if (e.code === 'BACKEND_DENIED')
        // Reachable; a least-privilege broker may not list secrets, reads can still work.
        return {
          ok: true,
          status: 'up',
          checkedAt,
          message: 'reachable; ListSecrets is not allowed for the broker',
        };
      return { ok: false, status: 'down', checkedAt, message: e.message };
    }
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }

  // ------------------------------------------------------------ RotatingSecretStore

  async readCurrent(location: string): Promise<StaticSecret> {
    return toStatic(await this.read(secretIdOf(location), { versionStage: AWSCURRENT }));
  }

  async readVersion(location: string, version: string): Promise<StaticSecret> {
    return toStatic(await this.read(secretIdOf(location), { versionId: version }));
  }

  async describe(location: string): Promise<SecretDescription> {
    const secretId = secretIdOf(location);
    const state = await this.stageState(secretId);
    let versions: SecretVersionsListEntry[];
    try {
      versions = await this.listVersions(secretId);
    } catch (err) {
      // AWS may refuse listing the versions of a secret scheduled for deletion.
      if (state.deletedDate === undefined || !(err instanceof BackendError)) throw err;
      versions = [...state.stages].map(([id, stages]) => ({ VersionId: id, VersionStages: stages }));
    }
    const pending = pendingOf(state);
    const description: SecretDescription = {
      location: secretId,
      reference: state.arn,
      currentVersion: state.current,
      pending,
      versions: versions.map((v) => {
        const info: SecretDescription['versions'][number] = {
          version: v.VersionId as string,
          stages: state.stages.get(v.VersionId as string) ?? v.VersionStages ?? [],
        };
        if (v.CreatedDate !== undefined) info.createdAt = v.CreatedDate;
        return info;
      }),
    };
    if (state.previous !== undefined) description.previousVersion = state.previous;
    if (state.deletedDate !== undefined)
      description.deleted = { version: state.current, restorableUntil: state.deletedDate };
    return description;
  }

  async pendingRotation(location: string): Promise<PendingRotation | null> {
    return pendingOf(await this.stageState(secretIdOf(location)));
  }

  async rotate(
    location: string,
    newValue?: SecretValue,
    options: RotateOptions = {},
  ): Promise<RotationResult> {
    const secretId = secretIdOf(location);
    const state = await this.stageState(secretId);
    const pending = pendingOf(state);
    if (pending !== null) {
      const onPending = options.onPending ?? 'finish';
      if (onPending === 'fail') throw pendingError(secretId, pending);
      if (onPending === 'undo') {
        await this.undoRotation(secretId);
      } else {
        if (newValue !== undefined) {
          const staged = await this.read(secretId, { versionId: pending.pendingVersion as string });
          if (!sameValue(staged.value, newValue)) throw pendingError(secretId, pending, true);
        }
        const done = await this.finishRotation(secretId);
        return {
          previousVersion: done.previousVersion ?? pending.fromVersion,
          newVersion: done.currentVersion,
          reference: `${state.arn}#${done.currentVersion}`,
          recovered: true,
        };
      }
    }

    const current = await this.read(secretId, { versionStage: AWSCURRENT });
    if (current.format === 'binary')
      throw new BackendError(
        'BACKEND_SPEC_INVALID',
        `secret ${secretId} holds SecretBinary; meshbridge rotates only SecretString secrets`,
      );
    const next = newValue ?? generateNextValue(current.value, options.generate);
    const secretString = serialize(current, next, newValue === undefined);
    const from = current.versionId;

    const put = await this.call(
      'PutSecretValue',
      secretId,
      () =>
        this.client.send(
          new PutSecretValueCommand({
            SecretId: secretId,
            ClientRequestToken: randomUUID(),
            SecretString: secretString,
            VersionStages: [AWSPENDING],
          }),
        ),
      Object.values(next),
    );
    const pendingVersion = put.VersionId;
    if (pendingVersion === undefined)
      throw new BackendError('BACKEND_RESPONSE_INVALID', `${SERVICE} PutSecretValue returned no VersionId`);
    await options.onStep?.('staged', { fromVersion: from, pendingVersion });
    await this.moveStage(secretId, AWSCURRENT, pendingVersion, from);
    await options.onStep?.('promoted', { fromVersion: from, pendingVersion });
    await this.moveStage(secretId, AWSPENDING, undefined, pendingVersion);
    await options.onStep?.('cleared', { fromVersion: from, pendingVersion });
    return {
      previousVersion: from,
      newVersion: pendingVersion,
      reference: `${current.arn}#${pendingVersion}`,
      recovered: false,
    };
  }

  async finishRotation(location: string): Promise<RecoveryResult> {
    const secretId = secretIdOf(location);
    const state = await this.stageState(secretId);
    const pending = pendingOf(state);
    if (pending === null)
      return withPrevious({ outcome: 'nothing-pending', currentVersion: state.current }, state.previous);
    const pendingVersion = pending.pendingVersion as string;
    if (pending.stage === 'staged') await this.moveStage(secretId, AWSCURRENT, pendingVersion, state.current);
    await this.moveStage(secretId, AWSPENDING, undefined, pendingVersion);
    return withPrevious(
      { outcome: 'finished', currentVersion: pendingVersion },
      pending.stage === 'staged' ? state.current : state.previous,
    );
  }

  async undoRotation(location: string): Promise<RecoveryResult> {
    const secretId = secretIdOf(location);
    const state = await this.stageState(secretId);
    const pending = pendingOf(state);
    if (pending === null)
      return withPrevious({ outcome: 'nothing-pending', currentVersion: state.current }, state.previous);
    const pendingVersion = pending.pendingVersion as string;
    if (pending.stage === 'staged') {
      await this.moveStage(secretId, AWSPENDING, undefined, pendingVersion);
      return withPrevious({ outcome: 'undone', currentVersion: state.current }, state.previous);
    }
    // Promoted: the old value is AWSPREVIOUS; make it current again, then drop the label.
    if (state.previous === undefined)
      throw new BackendError(
        'BACKEND_CONFLICT',
        `secret ${secretId}: the interrupted rotation is current and no AWSPREVIOUS version is left to return to`,
      );
    await this.moveStage(secretId, AWSCURRENT, state.previous, pendingVersion);
    await this.moveStage(secretId, AWSPENDING, undefined, pendingVersion);
    return { outcome: 'undone', currentVersion: state.previous, previousVersion: pendingVersion };
  }

  async rollback(
    location: string,
    toVersion: string,
    options: RollbackOptions = {},
  ): Promise<RotationResult> {
    const secretId = secretIdOf(location);
    const state = await this.stageState(secretId);
    const pending = pendingOf(state);
    if (pending !== null) throw pendingError(secretId, pending);
    if (toVersion === state.current)
      return {
        previousVersion: state.current,
        newVersion: state.current,
        reference: `${state.arn}#${state.current}`,
        recovered: false,
      };
    const versions = await this.listVersions(secretId);
    const target = versions.find((v) => v.VersionId === toVersion);
    if (target === undefined)
      throw new BackendError(
        'BACKEND_VERSION_NOT_FOUND',
        `secret ${secretId} has no version ${toVersion} any more; nothing to roll back to`,
        { secretId, version: toVersion },
      );
    const window = options.restoreWindowSeconds ?? this.restoreWindowSeconds;
    if (window !== undefined && target.CreatedDate !== undefined) {
      // When did it stop being current? When the next version after it was created.
      const created = target.CreatedDate.getTime();
      const later = versions
        .filter((v) => v.VersionId !== toVersion)
        .map((v) => v.CreatedDate?.getTime())
        .filter((t): t is number => t !== undefined && t >= created);
      const supersededAt = later.length > 0 ? Math.min(...later) : undefined;
      const now = this.clock().getTime();
      if (supersededAt !== undefined && now - supersededAt > window * 1000)
        throw new BackendError(
          'BACKEND_RESTORE_WINDOW_PASSED',
          `secret ${secretId}: version ${toVersion} was replaced at ${new Date(supersededAt).toISOString()}, more than ${window}s ago; the restore window has passed`,
          { secretId, version: toVersion },
        );
    }
    await this.moveStage(secretId, AWSCURRENT, toVersion, state.current);
    return {
      previousVersion: state.current,
      newVersion: toVersion,
      reference: `${state.arn}#${toVersion}`,
      recovered: false,
    };
  }

  async retire(location: string, options: RetireOptions): Promise<RetireResult> {
    const secretId = secretIdOf(location);
    const state = await this.stageState(secretId);
    const reference = `${state.arn}#${state.current}`;
    if (state.deletedDate !== undefined)
      return {
        reference,
        version: state.current,
        restorableUntil: state.deletedDate,
        changed: false,
        expiresDownstream: true,
      };
    const pending = pendingOf(state);
    if (pending !== null) throw pendingError(secretId, pending);
    const days = recoveryWindowDays(options.restoreWindowSeconds);
    let deletionDate: Date | undefined;
    try {
      const out = await this.call('DeleteSecret', secretId, () =>
        this.client.send(new DeleteSecretCommand({ SecretId: secretId, RecoveryWindowInDays: days })),
      );
      deletionDate = out.DeletionDate;
    } catch (err) {
      // Deleted by someone else in between: already scheduled is what was asked for.
      const now = await this.stageState(secretId).catch(() => undefined);
      if (now?.deletedDate === undefined) throw err;
      return {
        reference,
        version: state.current,
        restorableUntil: now.deletedDate,
        changed: false,
        expiresDownstream: true,
      };
    }
    const restorableUntil = deletionDate ?? new Date(this.clock().getTime() + days * 86_400_000);
    return { reference, version: state.current, restorableUntil, changed: true, expiresDownstream: true };
  }

  async restore(location: string): Promise<RestoreResult> {
    const secretId = secretIdOf(location);
    const state = await this.stageState(secretId);
    const reference = `${state.arn}#${state.current}`;
    if (state.deletedDate === undefined) return { reference, version: state.current, changed: false };
    try {
      await this.call('RestoreSecret', secretId, () =>
        this.client.send(new RestoreSecretCommand({ SecretId: secretId })),
      );
    } catch (err) {
      const now = await this.stageState(secretId).catch(() => undefined);
      if (now === undefined || now.deletedDate !== undefined) throw err;
      return { reference, version: state.current, changed: false };
    }
    return { reference, version: state.current, changed: true };
  }

  // ------------------------------------------------------------ internals

  private async read(
    secretId: string,
    at: { versionStage?: string; versionId?: string },
  ): Promise<ReadSecret> {
    const input =
      at.versionId !== undefined ? { VersionId: at.versionId } : { VersionStage: at.versionStage };
    let out: GetSecretValueCommandOutput;
    try {
      out = await this.call('GetSecretValue', secretId, () =>
        this.client.send(new GetSecretValueCommand({ SecretId: secretId, ...input })),
      );
    } catch (err) {
      if (err instanceof BackendError && err.code === 'BACKEND_REQUEST_REJECTED') {
        const deleted = await this.stageState(secretId)
          .then((s) => s.deletedDate)
          .catch(() => undefined);
        if (deleted !== undefined)
          throw new BackendError(
            'BACKEND_SECRET_NOT_FOUND',
            `${SERVICE}: secret ${secretId} is scheduled for deletion (restorable until ${deleted.toISOString()}); ` +
              'restore it (meshbridge keys rollback, or RestoreSecret) to read it',
            { secretId, deleted: true, restorableUntil: deleted.toISOString() },
          );
      }
      // AWS words a missing stage/version differently across versions (moto not at all):
      // if the secret itself exists, it is the version that is missing.
      if (
        err instanceof BackendError &&
        err.code === 'BACKEND_SECRET_NOT_FOUND' &&
        (await this.exists(secretId))
      )
        throw new BackendError(
          'BACKEND_VERSION_NOT_FOUND',
          `${SERVICE}: secret ${secretId} has no version ${at.versionId ?? `labelled ${at.versionStage}`}`,
          at.versionId === undefined
            ? { secretId, versionStage: at.versionStage }
            : { secretId, versionId: at.versionId },
        );
      throw err;
    }
    if (out.ARN === undefined || out.VersionId === undefined)
      throw new BackendError(
        'BACKEND_RESPONSE_INVALID',
        `${SERVICE} GetSecretValue of ${secretId} returned no ARN or VersionId`,
      );
    const base = { arn: out.ARN, versionId: out.VersionId, stages: out.VersionStages ?? [] };
    const createdAt = out.CreatedDate === undefined ? {} : { createdAt: out.CreatedDate };
    if (out.SecretString !== undefined)
      return { ...base, ...parseSecretString(out.SecretString), ...createdAt };
    if (out.SecretBinary !== undefined)
      return {
        ...base,
        value: { value: Buffer.from(out.SecretBinary).toString('base64') },
        format: 'binary',
        ...createdAt,
      };
    throw new BackendError(
      'BACKEND_RESPONSE_INVALID',
      `${SERVICE} returned neither SecretString nor SecretBinary for ${secretId}`,
    );
  }

  private async exists(secretId: string): Promise<boolean> {
    try {
      await this.call('DescribeSecret', secretId, () =>
        this.client.send(new DescribeSecretCommand({ SecretId: secretId })),
      );
      return true;
    } catch {
      return false;
    }
  }

  private async stageState(secretId: string): Promise<StageState> {
    const out = await this.call('DescribeSecret', secretId, () =>
      this.client.send(new DescribeSecretCommand({ SecretId: secretId })),
    );
    const stages = new Map<string, string[]>(Object.entries(out.VersionIdsToStages ?? {}));
    const holder = (label: string) => [...stages].find(([, labels]) => labels.includes(label))?.[0];
    const current = holder(AWSCURRENT);
    if (out.ARN === undefined || current === undefined)
      throw new BackendError(
        'BACKEND_VERSION_NOT_FOUND',
        `secret ${secretId} has no version labelled AWSCURRENT (no value was ever stored?)`,
        { secretId },
      );
    const state: StageState = { arn: out.ARN, stages, current };
    if (out.DeletedDate !== undefined) state.deletedDate = out.DeletedDate;
    const previous = holder(AWSPREVIOUS);
    const pending = holder(AWSPENDING);
    if (previous !== undefined) state.previous = previous;
    if (pending !== undefined) state.pending = pending;
    return state;
  }

  private async listVersions(secretId: string): Promise<SecretVersionsListEntry[]> {
    const all: SecretVersionsListEntry[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const token = nextToken;
      const out = await this.call('ListSecretVersionIds', secretId, () =>
        this.client.send(
          new ListSecretVersionIdsCommand({
            SecretId: secretId,
            IncludeDeprecated: true,
            MaxResults: 100,
            ...(token === undefined ? {} : { NextToken: token }),
          }),
        ),
      );
      for (const v of out.Versions ?? []) if (v.VersionId !== undefined) all.push(v);
      // An empty or repeated token ends the listing too (moto answers "" on the last page).
      nextToken = out.NextToken === '' || out.NextToken === token ? undefined : out.NextToken;
    } while (nextToken !== undefined && ++pages < MAX_PAGES);
    return all;
  }

  /** Move `stage` to `moveTo` (or just off `removeFrom`); a label that moved underneath is a conflict. */
  private async moveStage(
    secretId: string,
    stage: string,
    moveTo: string | undefined,
    removeFrom: string | undefined,
  ) {
    try {
      await this.call('UpdateSecretVersionStage', secretId, () =>
        this.client.send(
          new UpdateSecretVersionStageCommand({
            SecretId: secretId,
            VersionStage: stage,
            ...(moveTo === undefined ? {} : { MoveToVersionId: moveTo }),
            ...(removeFrom === undefined ? {} : { RemoveFromVersionId: removeFrom }),
          }),
        ),
      );
    } catch (err) {
      if (err instanceof BackendError && err.code === 'BACKEND_REQUEST_REJECTED')
        throw new BackendError(
          'BACKEND_CONFLICT',
          `secret ${secretId}: ${stage} is no longer where this rotation left it (someone else moved it); describe the secret and retry`,
          { secretId, stage },
        );
      throw err;
    }
  }

  /** Run one SDK call; map its failure to a BackendError that holds no secret and no raw SDK error. */
  private async call<T>(
    operation: string,
    secretId: string,
    fn: () => Promise<T>,
    secrets: string[] = [],
  ): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw mapAwsError(err, operation, secretId, secrets);
    }
  }
}

interface AwsSdkError {
  name?: string;
  message?: string;
  $fault?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

const DENIED = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'IncompleteSignature',
  'DecryptionFailure',
]);

const UNAVAILABLE = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalServiceError',
  'InternalFailure',
]);

export function mapAwsError(
  err: unknown,
  operation: string,
  secretId: string,
  secrets: string[] = [],
): BackendError {
  if (err instanceof BackendError) return err;
  const e = (err ?? {}) as AwsSdkError;
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const status = e.$metadata?.httpStatusCode;
  const details: Record<string, unknown> = { operation, secretId, awsError: name };
  if (status !== undefined) details.httpStatus = status;
  if (e.$metadata?.requestId !== undefined) details.requestId = e.$metadata.requestId;
  const said = redactSecrets(typeof e.message === 'string' ? e.message : String(err), secrets);
  const where = `${SERVICE} ${operation} ${secretId}`;

  const net = networkErrorCode(err);
  if (net !== undefined && status === undefined)
    return new BackendError(
      'BACKEND_UNAVAILABLE',
      `${where}: the service could not be reached (${net}); retry when it is back`,
      { ...details, network: net },
    );
  if (name === 'CredentialsProviderError')
    return new BackendError(
      'BACKEND_UNAVAILABLE',
      `${where}: the broker found no AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity or an instance role)`,
      details,
    );
  let code: BackendErrorCode;
  let hint: string;
  if (name === 'ResourceNotFoundException') {
    const versionMissing = /secret value for|version/i.test(said);
    code = versionMissing ? 'BACKEND_VERSION_NOT_FOUND' : 'BACKEND_SECRET_NOT_FOUND';
    hint = versionMissing ? 'the version or stage does not exist' : 'check the secret id and region';
  } else if (DENIED.has(name) || status === 401 || status === 403) {
    code = 'BACKEND_DENIED';
    hint = "the broker's AWS identity is not allowed this; grant it in IAM (and KMS for the secret's key)";
  } else if (
    UNAVAILABLE.has(name) ||
    e.$fault === 'server' ||
    (status !== undefined && status >= 500) ||
    status === 429
  ) {
    code = 'BACKEND_UNAVAILABLE';
    hint = 'retry later';
  } else if (name === 'ResourceExistsException' || name === 'PreconditionNotMetException') {
    code = 'BACKEND_CONFLICT';
    hint = 'someone else changed the secret first';
  } else if (name === 'InvalidParameterException' || name === 'InvalidRequestException' || status === 400) {
    code = 'BACKEND_REQUEST_REJECTED';
    hint = 'the request does not fit the secret';
  } else {
    code = 'BACKEND_ERROR';
    hint = 'unexpected error';
  }
  return new BackendError(code, `${where}: ${name}: ${said} (${hint})`, details);
}

/** AWS's RecoveryWindowInDays for a restore window: whole days, 7 to 30. */
export function recoveryWindowDays(restoreWindowSeconds: number): number {
  const days = Math.ceil(restoreWindowSeconds / 86_400);
  return Math.min(30, Math.max(7, Number.isFinite(days) ? days : 30));
}

/** Accept `aws:<id>` as well as a bare name or ARN. */
function secretIdOf(location: string): string {
  const id = location.startsWith('aws:') ? location.slice(4) : location;
  if (id.length === 0)
    throw new BackendError('BACKEND_SPEC_INVALID', 'an AWS secret location needs a secret name or ARN');
  return id;
}

function parseSecretString(text: string): Pick<ReadSecret, 'value' | 'format' | 'json'> {
  if (text.trimStart().startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
        const json = parsed as Record<string, unknown>;
        const value: SecretValue = {};
        for (const [k, v] of Object.entries(json)) value[k] = typeof v === 'string' ? v : JSON.stringify(v);
        return { value, format: 'json', json };
      }
    } catch {
      // not JSON: a plain string that starts with a brace
    }
  }
  return { value: { value: text }, format: 'plain' };
}

/** Write a plain secret back as plain; a JSON secret as JSON, keeping untouched fields' types. */
function serialize(current: ReadSecret, next: SecretValue, generated: boolean): string {
  const keys = Object.keys(next);
  if (current.format === 'plain' && keys.length === 1 && keys[0] === 'value') return next.value as string;
  if (generated && current.json !== undefined) {
    const out: Record<string, unknown> = { ...current.json };
    for (const [k, v] of Object.entries(next)) if (current.value[k] !== v) out[k] = v;
    return JSON.stringify(out);
  }
  return JSON.stringify(next);
}

function sameValue(a: SecretValue, b: SecretValue): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

function toStatic(read: ReadSecret): StaticSecret {
  const out: StaticSecret = {
    value: read.value,
    version: read.versionId,
    reference: `${read.arn}#${read.versionId}`,
  };
  if (read.createdAt !== undefined) out.createdAt = read.createdAt;
  return out;
}

function pendingOf(state: StageState): PendingRotation | null {
  if (state.pending === undefined) return null;
  if (state.pending === state.current) {
    const p: PendingRotation = {
      stage: 'promoted',
      fromVersion: state.previous ?? '',
      pendingVersion: state.pending,
    };
    return p;
  }
  return { stage: 'staged', fromVersion: state.current, pendingVersion: state.pending };
}

function pendingError(secretId: string, pending: PendingRotation, differentValue = false): BackendError {
  return new BackendError(
    'BACKEND_ROTATION_PENDING',
    `secret ${secretId}: an interrupted rotation left AWSPENDING on version ${pending.pendingVersion} (${pending.stage})` +
      (differentValue ? ' with a different value than asked for' : '') +
      '; finish or undo it first (finishRotation / undoRotation)',
    {
      secretId,
      stage: pending.stage,
      fromVersion: pending.fromVersion,
      pendingVersion: pending.pendingVersion,
    },
  );
}

function withPrevious(result: RecoveryResult, previous: string | undefined): RecoveryResult {
  if (previous !== undefined) result.previousVersion = previous;
  return result;
}
