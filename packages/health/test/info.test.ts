import { describe, expect, it } from 'vitest';
import { createHealth } from '../src/index.js';

describe('health.setInfo()', () => {
  it('adds, replaces and removes top-level members of the detailed document', async () => {
    const health = createHealth({
      service: 'info-test',
      defaultMetrics: false,
      processMetrics: false,
    });
    try {
      health.setInfo('config', { parts: { csrf: true } });
      expect((await health.detailed()).config).toEqual({ parts: { csrf: true } });
      health.setInfo('config', { parts: { csrf: false } });
      expect((await health.detailed()).config).toEqual({ parts: { csrf: false } });
      health.setInfo('config', undefined);
      expect('config' in (await health.detailed())).toBe(false);
    } finally {
      await health.close();
    }
  });

  it('refuses to replace members of the IETF format', () => {
    const health = createHealth({ defaultMetrics: false, processMetrics: false });
    try {
      expect(() => health.setInfo('status', 'pass')).toThrow(
        /@shipshape\/health: setInfo\(\) name must be a non-empty string other than status/,
      );
    } finally {
      void health.close();
    }
  });
});
