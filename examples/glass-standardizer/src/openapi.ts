// The OpenAPI 3.1 document of the service's HTTP API, served at /openapi.json.
import { datasetFieldsJsonSchema } from './domain/dataset-fields.js';

type Schema = Record<string, unknown>;

const problem = { $ref: '#/components/schemas/Problem' };
const json = (schema: Schema) => ({ 'application/json': { schema } });
const csv = { 'text/csv': { schema: { type: 'string' } } };
const problems = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [
      String(s),
      {
        description: PROBLEM_TEXT[s] ?? 'Problem',
        content: { 'application/problem+json': { schema: problem } },
      },
    ]),
  );
const PROBLEM_TEXT: Record<number, string> = {
  400: 'Invalid input (VALIDATION_FAILED, FILE_REQUIRED, upload codes)',
  401: 'No or invalid credential (AUTH_REQUIRED, AUTH_INVALID, AUTH_EXPIRED, AUTH_REVOKED, SESSION_EXPIRED)',
  403: 'Role missing (ROLE_REQUIRED), not the owner (NOT_DATASET_OWNER), CSRF, IP blocked',
  404: 'Unknown dataset (DATASET_NOT_FOUND) or no SAMPLE file (NO_SAMPLE_FILE)',
  409: 'Not done yet (DATASET_NOT_READY), busy (DATASET_BUSY) or quality errors (QUALITY_ERRORS)',
  413: 'Upload too large',
  415: 'Not CSV or XLSX',
  429: 'Rate limited (RATE_LIMITED) or sign-in throttled (AUTH_THROTTLED)',
  503: 'Storage unavailable (STORAGE_UNAVAILABLE) or credentials cannot be checked (AUTH_UNAVAILABLE)',
  507: 'Disk full (STORAGE_FULL)',
};
const id = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const common = [401, 429, 503];
const role = (r: string) => ({
  'x-required-role': r,
  security: [{ bearer: [] }, { apiKey: [] }, { session: [] }],
});

function download(summary: string, requiredRole: string, extra: number[] = []) {
  return {
    get: {
      summary,
      ...role(requiredRole),
      parameters: [id],
      responses: {
        '200': {
          description: 'Streamed CSV, named <COUNTRY>_<YEAR>_<BATCH>_<kind>.csv',
          content: csv,
        },
        ...problems(400, 403, 404, 409, ...extra, ...common),
      },
    },
  };
}

const analyticsQuery = ['specimen', 'firstIsolate', 'ci', 'minimum'].map((name) => ({
  name,
  in: 'query',
  schema: name === 'minimum' ? { type: 'integer', minimum: 1 } : { type: 'string' },
}));

/** The document; `servers` is left to the client (same origin). */
export function openApiDocument(version: string): Schema {
  // The upload's fields as validated (domain/dataset-fields.ts), not a copy of their rules.
  const uploadFields = datasetFieldsJsonSchema('input');
  const storedFields = datasetFieldsJsonSchema('stored');
  return {
    openapi: '3.1.0',
    info: {
      title: 'GLASS standardizer API',
      version,
      description:
        'Upload AMR isolate files, standardize them to WHO GLASS, read the quality report, download GLASS files and analytics. Roles: viewer < analyst < uploader < admin.',
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key, or an OIDC access token when OIDC_* is set',
        },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: '__Host-shipshape.sid',
          description: 'Console session (CSRF-protected)',
        },
      },
      schemas: {
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status'],
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            code: { type: 'string' },
            instance: { type: 'string' },
            requestId: { type: 'string' },
            errors: { type: 'array', items: { type: 'object' } },
          },
        },
        Dataset: {
          type: 'object',
          required: ['id', 'status', 'progress', 'country', 'year', 'batchId', 'links'],
          properties: {
            id: { type: 'string', format: 'uuid' },
            status: { enum: ['queued', 'processing', 'done', 'failed', 'interrupted'] },
            progress: { type: 'number', minimum: 0, maximum: 100 },
            country: storedFields.properties.country,
            year: storedFields.properties.year,
            batchId: storedFields.properties.batchId,
            owner: { type: ['string', 'null'] },
            counts: { type: ['object', 'null'] },
            quality: { type: ['object', 'null'] },
            error: { type: ['string', 'null'] },
            links: { type: 'object', additionalProperties: { type: 'string' } },
          },
        },
        QualityReport: {
          type: 'object',
          required: ['id', 'status', 'entries', 'completeness', 'summary', 'blocking'],
          properties: {
            id: { type: 'string', format: 'uuid' },
            status: { const: 'done' },
            entries: { type: 'array', items: { $ref: '#/components/schemas/QualityEntry' } },
            completeness: {
              type: 'object',
              description: 'Rule 11: % filled per field, 0–100 with one decimal',
              additionalProperties: { type: 'number' },
            },
            summary: {
              type: 'object',
              required: ['errors', 'warnings', 'infos'],
              description: 'Entries that found something, by severity',
              properties: {
                errors: { type: 'integer' },
                warnings: { type: 'integer' },
                infos: { type: 'integer' },
              },
            },
            blocking: { type: 'boolean', description: 'An ERROR blocks the GLASS RIS export' },
          },
        },
        QualityEntry: {
          type: 'object',
          required: ['rule', 'severity', 'code', 'message', 'count', 'rows', 'values', 'messages'],
          properties: {
            rule: { type: 'integer', description: 'SPEC §3 rule; 0 = the file itself' },
            severity: { enum: ['ERROR', 'WARN', 'INFO'] },
            code: { type: 'string' },
            message: {
              type: 'string',
              description: 'What the rule checks (a file-level entry: its first finding)',
            },
            count: { type: 'integer', description: 'Findings; 0 = the check passed' },
            rows: {
              type: 'array',
              items: { type: 'integer' },
              maxItems: 50,
              description: 'First 50 source rows (header = row 1)',
            },
            values: {
              type: 'array',
              items: { type: 'string' },
              maxItems: 50,
              description: 'First 50 distinct offending values',
            },
            share: { type: 'number', description: 'Share of the checked cells that offend' },
            messages: {
              type: 'array',
              maxItems: 21,
              description:
                'Findings by text, with their counts (which add up to count) and their rows among rows; after 20 distinct texts the rest are counted under one item',
              items: {
                type: 'object',
                required: ['message', 'count', 'rows'],
                properties: {
                  message: { type: 'string' },
                  count: { type: 'integer' },
                  rows: { type: 'array', items: { type: 'integer' } },
                },
              },
            },
          },
        },
        Principal: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            name: { type: 'string' },
            roles: { type: 'array', items: { enum: ['viewer', 'analyst', 'uploader', 'admin'] } },
            via: { type: 'string' },
            csrfToken: { type: ['string', 'null'] },
          },
        },
      },
    },
    paths: {
      '/auth/session': {
        get: {
          summary: 'The signed-in principal and a CSRF token',
          responses: {
            '200': {
              description: 'Signed in',
              content: json({ $ref: '#/components/schemas/Principal' }),
            },
            ...problems(...common),
          },
        },
        post: {
          summary: 'Sign in with an API key (starts a cookie session)',
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              required: ['key'],
              properties: { key: { type: 'string' } },
            }),
          },
          responses: {
            '200': {
              description: 'Signed in; Set-Cookie',
              content: json({ $ref: '#/components/schemas/Principal' }),
            },
            ...problems(403, ...common),
          },
        },
        delete: {
          summary: 'Sign out (the session ends on the server)',
          responses: { '204': { description: 'Signed out' }, ...problems(403, 429) },
        },
      },
      '/api/datasets': {
        get: {
          summary: 'Datasets, newest first',
          ...role('viewer'),
          parameters: [
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100 } },
            { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0 } },
          ],
          responses: {
            '200': {
              description: 'A page',
              content: json({
                type: 'object',
                properties: {
                  items: { type: 'array', items: { $ref: '#/components/schemas/Dataset' } },
                  total: { type: 'integer' },
                  limit: { type: 'integer' },
                  offset: { type: 'integer' },
                },
              }),
            },
            ...problems(400, 403, ...common),
          },
        },
        post: {
          summary: 'Upload an isolate file (CSV or XLSX); processed in the background',
          ...role('uploader'),
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  required: ['file', ...uploadFields.required],
                  properties: {
                    file: { type: 'string', contentMediaType: 'application/octet-stream' },
                    ...uploadFields.properties,
                  },
                },
              },
            },
          },
          responses: {
            '202': {
              description: 'Accepted; Location of the dataset',
              content: json({ $ref: '#/components/schemas/Dataset' }),
            },
            ...problems(400, 403, 413, 415, 507, ...common),
          },
        },
      },
      '/api/datasets/{id}': {
        get: {
          summary: 'Status, progress, counts and quality summary',
          ...role('viewer'),
          parameters: [id],
          responses: {
            '200': {
              description: 'The dataset',
              content: json({ $ref: '#/components/schemas/Dataset' }),
            },
            ...problems(400, 403, 404, ...common),
          },
        },
        delete: {
          summary: 'Delete a dataset (uploaders: their own; admins: any)',
          ...role('uploader'),
          parameters: [id],
          responses: {
            '204': { description: 'Deleted' },
            ...problems(400, 403, 404, 409, ...common),
          },
        },
      },
      '/api/datasets/{id}/events': {
        get: {
          summary: 'Server-sent events: the dataset summary on every change until processing ends',
          ...role('viewer'),
          parameters: [id],
          responses: {
            '200': {
              description: 'text/event-stream (events "status" and "end")',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            ...problems(400, 403, 404, ...common),
          },
        },
      },
      '/api/datasets/{id}/quality': {
        get: {
          summary: 'The quality report (rules, severities, counts, rows, values, completeness)',
          ...role('viewer'),
          parameters: [id],
          responses: {
            '200': {
              description: 'Quality report',
              content: json({ $ref: '#/components/schemas/QualityReport' }),
            },
            ...problems(400, 403, 404, 409, ...common),
          },
        },
      },
      '/api/datasets/{id}/quality/issues.csv': download(
        'Per-row issue list of the quality report (first 50 rows per rule, each with the text of its finding)',
        'viewer',
      ),
      '/api/datasets/{id}/isolates.csv': download(
        'One row per isolate, with patient ids (analysts)',
        'analyst',
      ),
      '/api/datasets/{id}/glass/ris.csv': download('GLASS RIS file', 'viewer'),
      '/api/datasets/{id}/glass/sample.csv': download('GLASS SAMPLE file', 'viewer'),
      '/api/datasets/{id}/resistance': {
        get: {
          summary: '%R / %S / %NS with confidence intervals',
          ...role('viewer'),
          parameters: [
            id,
            ...['pathogen', 'antibiotic', 'groupBy'].map((name) => ({
              name,
              in: 'query',
              schema: { type: 'string' },
            })),
            ...analyticsQuery,
          ],
          responses: {
            '200': {
              description: 'Rows',
              content: json({
                type: 'object',
                properties: {
                  id: { type: 'string' },
                  query: { type: 'object' },
                  rows: { type: 'array' },
                },
              }),
            },
            '304': { description: 'Not modified (ETag)' },
            ...problems(400, 403, 404, 409, ...common),
          },
        },
      },
      '/api/datasets/{id}/antibiogram': {
        get: {
          summary: 'Antibiogram: pathogens × antibiotics, % susceptible with intervals',
          ...role('viewer'),
          parameters: [id, ...analyticsQuery],
          responses: {
            '200': { description: 'Antibiogram', content: json({ type: 'object' }) },
            '304': { description: 'Not modified (ETag)' },
            ...problems(400, 403, 404, 409, ...common),
          },
        },
      },
      '/api/admin/monitoring': {
        get: {
          summary: 'Health checks, history, alerts, request rates, processing metrics',
          ...role('admin'),
          responses: {
            '200': { description: 'Monitoring data', content: json({ type: 'object' }) },
            ...problems(403, ...common),
          },
        },
      },
      '/api/admin/loggers': {
        get: {
          summary: 'Log levels (@shipshape/logger)',
          ...role('admin'),
          responses: {
            '200': { description: 'Levels', content: json({ type: 'object' }) },
            ...problems(403, ...common),
          },
        },
        put: {
          summary: 'Change the root log level for a while ({ level, ttlMs })',
          ...role('admin'),
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              properties: { level: { type: 'string' }, ttlMs: { type: 'integer' } },
            }),
          },
          responses: {
            '200': { description: 'Changed', content: json({ type: 'object' }) },
            ...problems(400, 403, ...common),
          },
        },
      },
      '/api/admin/caches': {
        get: {
          summary: 'Caches with their stats (@shipshape/cache)',
          ...role('admin'),
          responses: {
            '200': { description: 'Caches', content: json({ type: 'object' }) },
            ...problems(403, ...common),
          },
        },
      },
      '/api/admin/caches/{cache}': {
        delete: {
          summary: 'Clear a cache',
          ...role('admin'),
          parameters: [{ name: 'cache', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '204': { description: 'Cleared' }, ...problems(403, 404, ...common) },
        },
      },
      '/health/live': {
        get: {
          summary: 'Liveness probe',
          responses: { '200': { description: 'Alive' }, '503': { description: 'Broken' } },
        },
      },
      '/health/ready': {
        get: {
          summary: 'Readiness probe',
          responses: { '200': { description: 'Ready' }, '503': { description: 'Not ready' } },
        },
      },
      '/health/detailed': {
        get: {
          summary: 'Every check with outputs (admin)',
          ...role('admin'),
          responses: {
            '200': { description: 'application/health+json' },
            '503': { description: 'Unhealthy' },
            ...problems(401, 403),
          },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics (admin or METRICS_TOKEN in production)',
          responses: { '200': { description: 'text/plain' }, ...problems(401, 403) },
        },
      },
      '/openapi.json': {
        get: {
          summary: 'This document',
          responses: { '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } },
        },
      },
    },
  };
}
