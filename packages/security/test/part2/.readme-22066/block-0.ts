import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import Joi from 'joi';
import {
  csvSafe,
  errorHandler,
  jsonBody,
  notFound,
  threatMonitor,
  uploadedFiles,
  uploadGuard,
  validate,
  validated,
} from '../../../src/index.js';

const app = express();
app.use(jsonBody({ limit: '100kb' }));
app.use(threatMonitor({ mode: 'monitor' }));

app.post(
  '/users/:id',
  validate({
    params: Joi.object({ id: Joi.number().integer().positive().required() }),
    query: Joi.object({ notify: Joi.boolean().default(false) }),
    body: Joi.object({ email: Joi.string().email().required() }),
  }),
  (req, res) => {
    const { params, query } = validated<{ params: { id: number }; query: { notify: boolean } }>(req);
    res.json({ id: params.id, notify: query.notify, email: (req.body as { email: string }).email });
  },
);

app.post(
  '/uploads',
  uploadGuard({ dir: join(tmpdir(), 'uploads'), types: ['csv', 'xlsx'], maxFileSize: '25mb' }),
  async (req, res) => {
    const [file] = uploadedFiles(req);
    if (!file) throw new Error('unreachable: minFiles is 1');
    file.keep(); // otherwise it is deleted when the response finishes
    res.status(201).json({ name: file.name, size: file.size, sha256: file.sha256 });
  },
);

app.get('/export.csv', (_req, res) => {
  res.type('text/csv').send(['=1+1', 'Ada'].map((cell) => csvSafe(cell)).join('\n'));
});

app.use(notFound());
app.use(errorHandler({ production: process.env.NODE_ENV === 'production' }));

export {};
