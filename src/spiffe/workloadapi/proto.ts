import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/**
 * Loads `proto/workload.proto` (shipped with the package) and describes the wire
 * messages as proto-loader decodes them (`keepCase`, `defaults`: every scalar is
 * present, empty when unset).
 */

export const WORKLOAD_API_SERVICE = 'SpiffeWorkloadAPI';
/** Rule 71: metadata key and exact value every call carries. */
export const SECURITY_HEADER = 'workload.spiffe.io';
export const SECURITY_HEADER_VALUE = 'true';

export interface X509SVIDMessage {
  spiffe_id: string;
  x509_svid: Buffer;
  x509_svid_key: Buffer;
  bundle: Buffer;
  hint: string;
}
export interface X509SVIDResponseMessage {
  svids: X509SVIDMessage[];
  crl: Buffer[];
  federated_bundles: Record<string, Buffer>;
}
export interface X509BundlesResponseMessage {
  crl: Buffer[];
  bundles: Record<string, Buffer>;
}
export interface JWTSVIDRequestMessage {
  audience: string[];
  spiffe_id: string;
}
export interface JWTSVIDMessage {
  spiffe_id: string;
  svid: string;
  hint: string;
}
export interface JWTSVIDResponseMessage {
  svids: JWTSVIDMessage[];
}
export interface JWTBundlesResponseMessage {
  bundles: Record<string, Buffer>;
}
export interface ValidateJWTSVIDRequestMessage {
  audience: string;
  svid: string;
}
export interface ValidateJWTSVIDResponseMessage {
  spiffe_id: string;
  claims: StructMessage | null;
}
export interface WITSVIDRequestMessage {
  spiffe_id: string;
}

/** `google.protobuf.Struct` as proto-loader decodes it with `oneofs: true`. */
export interface StructMessage {
  fields: Record<string, ValueMessage>;
}
export interface ValueMessage {
  kind?: 'nullValue' | 'numberValue' | 'stringValue' | 'boolValue' | 'structValue' | 'listValue';
  nullValue?: string | number;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: StructMessage;
  listValue?: { values: ValueMessage[] };
}

const PROTO_FILE = join('proto', 'workload.proto');

/**
 * Finds `proto/workload.proto` by walking up from this module: works from `src/`
 * (tsx, vitest), from `dist/` after `tsc`, and from an installed package.
 */
export function workloadProtoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, PROTO_FILE);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`cannot find ${PROTO_FILE} above ${dirname(fileURLToPath(import.meta.url))}`);
    }
    dir = parent;
  }
}

let cachedDefinition: protoLoader.PackageDefinition | undefined;

/** The package definition; `google/protobuf/struct.proto` comes from protobufjs's bundled common types. */
export function workloadPackageDefinition(): protoLoader.PackageDefinition {
  cachedDefinition ??= protoLoader.loadSync(workloadProtoPath(), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    arrays: true,
    objects: true,
    oneofs: true,
  });
  return cachedDefinition;
}

/** The `SpiffeWorkloadAPI` service definition: for servers (`addService`) and for building clients. */
export function workloadServiceDefinition(): grpc.ServiceDefinition {
  const pkg = grpc.loadPackageDefinition(workloadPackageDefinition());
  const ctor = pkg[WORKLOAD_API_SERVICE] as grpc.ServiceClientConstructor;
  return ctor.service;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function structToJson(struct: StructMessage | null | undefined): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) out[key] = valueToJson(value);
  return out;
}

function valueToJson(value: ValueMessage): JsonValue {
  switch (value.kind) {
    case 'numberValue':
      return value.numberValue ?? 0;
    case 'stringValue':
      return value.stringValue ?? '';
    case 'boolValue':
      return value.boolValue ?? false;
    case 'structValue':
      return structToJson(value.structValue);
    case 'listValue':
      return (value.listValue?.values ?? []).map(valueToJson);
    default:
      return null;
  }
}

export function jsonToStruct(obj: Record<string, unknown>): StructMessage {
  const fields: Record<string, ValueMessage> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (value !== undefined) fields[key] = jsonToValue(value);
  }
  return { fields };
}

function jsonToValue(value: unknown): ValueMessage {
  if (value === null) return { kind: 'nullValue', nullValue: 'NULL_VALUE' };
  if (typeof value === 'number') return { kind: 'numberValue', numberValue: value };
  if (typeof value === 'string') return { kind: 'stringValue', stringValue: value };
  if (typeof value === 'boolean') return { kind: 'boolValue', boolValue: value };
  if (Array.isArray(value)) return { kind: 'listValue', listValue: { values: value.map(jsonToValue) } };
  if (typeof value === 'object')
    return { kind: 'structValue', structValue: jsonToStruct(value as Record<string, unknown>) };
  return { kind: 'nullValue', nullValue: 'NULL_VALUE' };
}
