import express from 'express';
import promBundle from 'express-prom-bundle';

export default async function createApp() {
  const app = express();
  app.use(promBundle({ includeMethod: true, includePath: true, includeStatusCode: true }));
  app.get('/api/items/:id', (req, res) => {
    res.json({ id: req.params.id });
  });
  return app;
}
