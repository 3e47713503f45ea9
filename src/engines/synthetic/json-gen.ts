import { isRecord, schemaTypes, type JsonSchemaNode } from '../../results/index.js';
import type { HashRng } from './rng.js';
import { pickWords } from './words.js';

/**
 * A value that conforms to `schema` within the subset `validateJsonSubset` checks (types,
 * properties/required, items, enum, const, minimum/maximum, minItems/maxItems). Optional
 * properties are included at random, so different prompts give differently shaped objects.
 */
export function generateFromSchema(schema: JsonSchemaNode, rng: HashRng): unknown {
  if ('const' in schema) return schema['const'];
  const choices = schema['enum'];
  if (Array.isArray(choices) && choices.length > 0) return rng.pick(choices);
  const type =
    schemaTypes(schema).find((t) => t !== 'null') ??
    (schemaTypes(schema).includes('null') ? 'null' : 'string');
  switch (type) {
    case 'object':
      return generateObject(schema, rng);
    case 'array': {
      const items = isRecord(schema['items']) ? schema['items'] : { type: 'string' };
      const min = numberOr(schema['minItems'], 0);
      const max = Math.max(min, numberOr(schema['maxItems'], min + 3));
      return Array.from({ length: rng.int(Math.max(min, Math.min(1, max)), max) }, () =>
        generateFromSchema(items, rng),
      );
    }
    case 'integer': {
      const min = Math.ceil(numberOr(schema['minimum'], 0));
      const max = Math.max(min, Math.floor(numberOr(schema['maximum'], min + 100)));
      return rng.int(min, max);
    }
    case 'number': {
      const min = numberOr(schema['minimum'], 0);
      const max = Math.max(min, numberOr(schema['maximum'], min + 100));
      return Math.min(max, Math.max(min, Math.round(rng.range(min, max) * 100) / 100));
    }
    case 'boolean':
      return rng.next() < 0.5;
    case 'null':
      return null;
    default:
      return pickWords(rng, rng.int(1, 4)).join(' ');
  }
}

function generateObject(schema: JsonSchemaNode, rng: HashRng): Record<string, unknown> {
  const properties = isRecord(schema['properties']) ? schema['properties'] : {};
  const required = new Set(Array.isArray(schema['required']) ? schema['required'] : []);
  const out: Record<string, unknown> = {};
  for (const [key, sub] of Object.entries(properties)) {
    if (required.has(key) || rng.next() < 0.5) out[key] = generateFromSchema(isRecord(sub) ? sub : {}, rng);
  }
  // A required key without a property schema still has to be present.
  for (const key of required) {
    if (typeof key === 'string' && !(key in out)) out[key] = pickWords(rng, 1).join('');
  }
  return out;
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}
