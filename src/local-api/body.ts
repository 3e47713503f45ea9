import { ApiError } from './errors.js';

// Reading a JSON request body field by field, each mistake a 400 that names the field.

export type Body = Record<string, unknown>;

export function objectBody(body: unknown): Body {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError(400, 'bad_request', 'bad json: the body must be a JSON object');
  }
  return body as Body;
}

export function str(b: Body, key: string, required: true): string;
export function str(b: Body, key: string, required?: false): string | undefined;
export function str(b: Body, key: string, required = false): string | undefined {
  const v = b[key];
  if (v === undefined || v === null) {
    if (required) throw new ApiError(400, 'bad_request', `bad input: "${key}" is required`);
    return undefined;
  }
  if (typeof v !== 'string') throw new ApiError(400, 'bad_request', `bad input: "${key}" must be a string`);
  return v;
}

export function num(b: Body, key: string): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new ApiError(400, 'bad_request', `bad input: "${key}" must be a number`);
  return v;
}

export function int(b: Body, key: string): number | undefined {
  const v = num(b, key);
  if (v !== undefined && (!Number.isInteger(v) || v < 0))
    throw new ApiError(400, 'bad_request', `bad input: "${key}" must be a whole number`);
  return v;
}

export function opt<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}
