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
