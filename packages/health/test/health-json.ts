// A checker for draft-inadarei-api-health-check (Health Check Response Format for HTTP APIs):
// what a body served as application/health+json must satisfy, as a list of problems.
const STATUSES = new Set(['pass', 'warn', 'fail']);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export function healthJsonProblems(body: unknown, httpStatus: number): string[] {
  if (!isObject(body)) return ['the body is not a JSON object'];
  const problems: string[] = [];
  const status = body.status;
  if (typeof status !== 'string' || !STATUSES.has(status))
    problems.push(`status must be "pass", "warn" or "fail", got ${JSON.stringify(status)}`);
  // 3.1: pass and warn in 2xx-3xx, fail in 4xx-5xx.
  const ok = httpStatus >= 200 && httpStatus < 400;
  if ((status === 'fail') === ok)
    problems.push(`status "${String(status)}" served with HTTP ${httpStatus}`);
  // 3.5: output SHOULD be omitted for pass; warn SHOULD say why.
  if (status === 'pass' && body.output !== undefined) problems.push('output on a pass');
  if (status === 'warn' && typeof body.output !== 'string') problems.push('a warn without output');
  for (const key of ['version', 'releaseId', 'serviceId', 'description', 'output'])
    if (body[key] !== undefined && typeof body[key] !== 'string')
      problems.push(`${key} must be a string`);
  if (
    body.notes !== undefined &&
    !(Array.isArray(body.notes) && body.notes.every((n) => typeof n === 'string'))
  )
    problems.push('notes must be an array of strings');
  if (body.links !== undefined && !isObject(body.links)) problems.push('links must be an object');
  if (body.checks === undefined) return problems;
  if (!isObject(body.checks)) return [...problems, 'checks must be an object'];
  // 4: every key points to an array of "component details" objects.
  for (const [key, value] of Object.entries(body.checks)) {
    if (!Array.isArray(value) || value.length === 0) {
      problems.push(`checks["${key}"] must be a non-empty array, got ${JSON.stringify(value)}`);
      continue;
    }
    value.forEach((c: unknown, i) => {
      const at = `checks["${key}"][${i}]`;
      if (!isObject(c) || Object.keys(c).length === 0) {
        problems.push(`${at} must be an object with at least one key`);
        return;
      }
      if (c.status !== undefined && !STATUSES.has(String(c.status)))
        problems.push(`${at}.status must be "pass", "warn" or "fail"`);
      if (c.time !== undefined && !(typeof c.time === 'string' && ISO_8601.test(c.time)))
        problems.push(`${at}.time must be an ISO 8601 date-time`);
      if (c.componentType !== undefined && typeof c.componentType !== 'string')
        problems.push(`${at}.componentType must be a string`);
      if (c.observedValue !== undefined && typeof c.observedUnit !== 'string')
        problems.push(`${at} has observedValue without observedUnit`);
      if (c.affectedEndpoints !== undefined && c.status === 'pass')
        problems.push(`${at}.affectedEndpoints on a pass`);
    });
  }
  return problems;
}
