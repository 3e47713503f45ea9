/**
 * The small JSON Schema subset the synthetic LLM honours and the checks enforce: `type` (object,
 * string, number, integer, boolean, array, null, or a list of them), `properties`, `required`,
 * `items`, `enum`, `const`, `minimum`/`maximum`, `minItems`/`maxItems`. Other keywords are ignored.
 */
export type JsonSchemaNode = Record<string, unknown>;

/**
 * The schema proper: OpenAI's `response_format.json_schema` wraps it as `{name, schema, strict}`,
 * so a node with `schema` and no `type`/`properties` is unwrapped.
 */
export function unwrapJsonSchema(schema: JsonSchemaNode): JsonSchemaNode {
  const inner = schema['schema'];
  if (isRecord(inner) && !('type' in schema) && !('properties' in schema)) return inner;
  return schema;
}

/** The schema's types, in order; a schema with `properties` but no `type` is an object. */
export function schemaTypes(schema: JsonSchemaNode): string[] {
  const type = schema['type'];
  if (typeof type === 'string') return [type];
  if (Array.isArray(type)) return type.filter((t): t is string => typeof t === 'string');
  if (isRecord(schema['properties'])) return ['object'];
  return [];
}

/** Every way `value` breaks `schema`, each prefixed with its JSON path; empty when it conforms. */
export function validateJsonSubset(schema: JsonSchemaNode, value: unknown, path = '$'): string[] {
  if ('const' in schema && !sameJson(schema['const'], value))
    return [`${path}: must be ${JSON.stringify(schema['const'])}`];
  const allowed = schema['enum'];
  if (Array.isArray(allowed) && !allowed.some((v) => sameJson(v, value))) {
    return [`${path}: must be one of ${JSON.stringify(allowed)}`];
  }
  const types = schemaTypes(schema);
  if (types.length > 0 && !types.some((t) => hasType(t, value))) {
    return [`${path}: must be ${types.join(' or ')}, got ${describeType(value)}`];
  }
  const problems: string[] = [];
  if (typeof value === 'number') {
    const { minimum, maximum } = schema;
    if (typeof minimum === 'number' && value < minimum) problems.push(`${path}: must be >= ${minimum}`);
    if (typeof maximum === 'number' && value > maximum) problems.push(`${path}: must be <= ${maximum}`);
  }
  if (Array.isArray(value)) {
    const { minItems, maxItems, items } = schema;
    if (typeof minItems === 'number' && value.length < minItems)
      problems.push(`${path}: needs >= ${minItems} items`);
    if (typeof maxItems === 'number' && value.length > maxItems)
      problems.push(`${path}: allows <= ${maxItems} items`);
    if (isRecord(items))
      value.forEach((v, i) => problems.push(...validateJsonSubset(items, v, `${path}[${i}]`)));
  }
  if (isRecord(value)) {
    const properties = isRecord(schema['properties']) ? schema['properties'] : {};
    const required = Array.isArray(schema['required']) ? schema['required'] : [];
    for (const key of required) {
      if (typeof key === 'string' && !(key in value)) problems.push(`${path}.${key}: is required`);
    }
    for (const [key, sub] of Object.entries(properties)) {
      if (key in value && isRecord(sub))
        problems.push(...validateJsonSubset(sub, value[key], `${path}.${key}`));
    }
  }
  return problems;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasType(type: string, value: unknown): boolean {
  switch (type) {
    case 'object':
      return isRecord(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    default:
      return true;
  }
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
