export * from './express.js';
export * from './fixture-lines.js';
export * from './metrics-doc.js';
export * from './private-build.js';
export * from './readme.js';
export * from './services.js';
