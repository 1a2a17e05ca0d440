export * from './express.js';
export * from './readme.js';
export * from './services.js';
