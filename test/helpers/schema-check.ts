/**
 * A small JSON Schema checker for the keywords docs/alert.schema.json and
 * docs/aggregates.schema.json use:
 * $ref (local #/$defs/…), type (one or a list), const, enum, pattern, minimum,
 * maximum, minLength, required, properties, additionalProperties (false or a
 * schema), items, minItems. Returns the problems, empty when valid.
 */
export interface JsonSchema {
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  required?: string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
}

export function checkSchema(root: JsonSchema, value: unknown): string[] {
  const problems: string[] = [];
  const patterns = new Map<string, RegExp>();
  const visit = (schema: JsonSchema, v: unknown, path: string): void => {
    if (schema.$ref) {
      const name = schema.$ref.replace('#/$defs/', '');
      const target = root.$defs?.[name];
      if (!target) throw new Error(`schema: unresolved ${schema.$ref}`);
      visit(target, v, path);
    }
    if ('const' in schema && v !== schema.const) problems.push(`${path}: expected ${JSON.stringify(schema.const)}, found ${JSON.stringify(v)}`);
    if (schema.enum && !schema.enum.includes(v)) problems.push(`${path}: expected one of ${JSON.stringify(schema.enum)}`);
    if (schema.type !== undefined) {
      const types = Array.isArray(schema.type) ? schema.type : [schema.type];
      if (!types.some((t) => hasType(t, v))) {
        problems.push(`${path}: expected ${types.join(' or ')}, found ${JSON.stringify(v)?.slice(0, 60)}`);
        return;
      }
    }
    if (typeof v === 'string') {
      if (schema.pattern) {
        let re = patterns.get(schema.pattern);
        if (!re) patterns.set(schema.pattern, (re = new RegExp(schema.pattern)));
        if (!re.test(v)) problems.push(`${path}: ${JSON.stringify(v)} does not match ${schema.pattern}`);
      }
      if (schema.minLength !== undefined && v.length < schema.minLength) problems.push(`${path}: shorter than ${schema.minLength}`);
    }
    if (typeof v === 'number') {
      if (schema.minimum !== undefined && v < schema.minimum) problems.push(`${path}: ${v} < ${schema.minimum}`);
      if (schema.maximum !== undefined && v > schema.maximum) problems.push(`${path}: ${v} > ${schema.maximum}`);
    }
    if (Array.isArray(v)) {
      if (schema.minItems !== undefined && v.length < schema.minItems) problems.push(`${path}: fewer than ${schema.minItems} items`);
      if (schema.items) v.forEach((item, i) => visit(schema.items as JsonSchema, item, `${path}[${i}]`));
    } else if (typeof v === 'object' && v !== null) {
      const obj = v as Record<string, unknown>;
      for (const key of schema.required ?? []) if (!(key in obj)) problems.push(`${path}.${key}: missing`);
      for (const [key, child] of Object.entries(obj)) {
        const sub = schema.properties?.[key];
        if (sub) visit(sub, child, `${path}.${key}`);
        else if (schema.additionalProperties === false) problems.push(`${path}.${key}: not allowed`);
        else if (typeof schema.additionalProperties === 'object') visit(schema.additionalProperties, child, `${path}.${key}`);
      }
    }
  };
  visit(root, value, '$');
  return problems;
}

function hasType(type: string, v: unknown): boolean {
  switch (type) {
    case 'null':
      return v === null;
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'integer':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    default:
      return typeof v === type;
  }
}
