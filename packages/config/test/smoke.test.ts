import { expect, it } from 'vitest';
import { describeEachExpress, listen } from '../../../test/helpers/index.js';

describeEachExpress('helpers', (express, version) => {
  it('serves over loopback', async () => {
    const app = express();
    app.get('/', (_req, res) => {
      res.json({ major: version.major });
    });
    const server = await listen(app);
    try {
      const res = await fetch(server.url);
      expect(await res.json()).toEqual({ major: version.major });
      const pkg = (await import(
        version.major === 4 ? 'express4/package.json' : 'express/package.json',
        { with: { type: 'json' } }
      )) as { default: { version: string } };
      expect(pkg.default.version.startsWith(String(version.major))).toBe(true);
    } finally {
      await server.close();
    }
  });
});
