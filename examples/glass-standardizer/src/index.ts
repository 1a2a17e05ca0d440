export * from './domain/normalize.js';
export * from './domain/reference.js';
export * from './domain/stats.js';
