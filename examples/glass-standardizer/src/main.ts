#!/usr/bin/env node
import { loadConfigOrExit } from '@shipshape/config';
import { schema } from './config.js';
import { createGlassService } from './http/service.js';

const config = loadConfigOrExit(schema);
const glass = await createGlassService({ config });
const { port, address } = await glass.listen();
glass.service.logger.info(`glass-standardizer listening on http://${address}:${port}`);
