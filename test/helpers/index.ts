export * from './express.js';
export * from './services.js';
