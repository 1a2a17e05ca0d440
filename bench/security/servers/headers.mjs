import { securityHeaders } from '@shipshape/security';
import express from 'express';

export default async function createApp() {
  const app = express();
  app.use(securityHeaders({ warnings: false }));
  app.get('/api/items/:id', (req, res) => {
    res.json({ id: req.params.id });
  });
  return app;
}
