import Joi from 'joi';

/**
 * The fields a dataset is created with, defined once: the upload route validates requests with it
 * (converting: trimmed, upper-cased), and the engine checks a stored dataset against it before
 * processing.
 */
export const datasetFields = Joi.object({
  country: Joi.string()
    .trim()
    .uppercase()
    .pattern(/^[A-Z]{3}$/)
    .required()
    .messages({ 'string.pattern.base': '"country" must be an ISO 3166 alpha-3 code such as KEN' }),
  year: Joi.number().integer().min(1990).max(2100).required(),
  batchId: Joi.string()
    .trim()
    .pattern(/^[A-Za-z0-9._-]{1,64}$/)
    .required()
    .messages({ 'string.pattern.base': '"batchId" must be 1-64 letters, digits, ".", "_" or "-"' }),
  dateFormat: Joi.string().uppercase().valid('DMY', 'MDY', 'YMD'),
});

/**
 * Throws `glass-standardizer: dataset "<field>" must be …, got <value>` when a stored dataset's
 * country, year or batch id break the rules of `datasetFields`.
 */
export function assertDatasetFields(dataset: {
  readonly country: string;
  readonly year: number;
  readonly batchId: string;
}): void {
  const fields = { country: dataset.country, year: dataset.year, batchId: dataset.batchId };
  const { error, value } = datasetFields.validate(fields);
  const detail = error?.details[0];
  if (detail) {
    const key = detail.path[0] as keyof typeof fields;
    throw new Error(
      `glass-standardizer: dataset ${detail.message}, got ${JSON.stringify(fields[key])}`,
    );
  }
  // Stored as the route stores them: normalised (trimmed, upper-case country).
  for (const key of Object.keys(fields) as (keyof typeof fields)[])
    if (value[key] !== fields[key])
      throw new Error(
        `glass-standardizer: dataset "${key}" must be stored normalised (${JSON.stringify(value[key])}), got ${JSON.stringify(fields[key])}`,
      );
}

interface FieldDescription {
  type: string;
  flags?: { presence?: string };
  rules?: { name: string; args?: { limit?: number; regex?: string; direction?: string } }[];
  allow?: unknown[];
}

/**
 * `datasetFields` as JSON Schema, for the OpenAPI document: derived, so the documented rules are
 * the validated ones. `input` is what a client may send (a field upper-cased before it is checked
 * may come in either case); `stored` is the dataset as stored.
 */
export function datasetFieldsJsonSchema(form: 'input' | 'stored'): {
  required: string[];
  properties: Record<string, Record<string, unknown>>;
} {
  const { keys } = datasetFields.describe() as { keys: Record<string, FieldDescription> };
  const required: string[] = [];
  const properties: Record<string, Record<string, unknown>> = {};
  for (const [name, field] of Object.entries(keys)) {
    if (field.flags?.presence === 'required') required.push(name);
    const rules = field.rules ?? [];
    const anyCase = form === 'input' && rules.some((r) => r.name === 'case');
    const property: Record<string, unknown> = {};
    if (field.allow) property.enum = field.allow;
    else property.type = rules.some((r) => r.name === 'integer') ? 'integer' : field.type;
    for (const rule of rules) {
      if (rule.name === 'min') property.minimum = rule.args?.limit;
      if (rule.name === 'max') property.maximum = rule.args?.limit;
      if (rule.name === 'pattern' && rule.args?.regex) {
        const source = rule.args.regex.slice(1, rule.args.regex.lastIndexOf('/'));
        property.pattern = anyCase ? source.replaceAll('[A-Z]', '[A-Za-z]') : source;
      }
    }
    properties[name] = property;
  }
  return { required, properties };
}
