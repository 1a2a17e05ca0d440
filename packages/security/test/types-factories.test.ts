import type { ErrorRequestHandler, RequestHandler } from 'express';
import { describe, expectTypeOf, it } from 'vitest';
import {
  errorHandler,
  jsonBody,
  notFound,
  type SecurityLogger,
  threatMonitor,
  type UploadedFile,
  type UploadGuardOptions,
  uploadedFiles,
  uploadGuard,
  urlencodedBody,
  validate,
} from '../src/index.js';

describe('public types of the input, upload and error factories', () => {
  it('factories return Express middleware', () => {
    expectTypeOf(jsonBody()).toEqualTypeOf<RequestHandler>();
    expectTypeOf(urlencodedBody()).toEqualTypeOf<RequestHandler>();
    expectTypeOf(uploadGuard({ dir: '/tmp/x' })).toEqualTypeOf<RequestHandler>();
    expectTypeOf(threatMonitor()).toEqualTypeOf<RequestHandler>();
    expectTypeOf(notFound()).toEqualTypeOf<RequestHandler>();
    expectTypeOf(errorHandler()).toEqualTypeOf<ErrorRequestHandler>();
    expectTypeOf(validate).parameter(0).toHaveProperty('body');
  });

  it('options are readonly and need only dir for uploads', () => {
    expectTypeOf<{ dir: string }>().toExtend<UploadGuardOptions>();
    expectTypeOf<UploadGuardOptions['logger']>().toEqualTypeOf<SecurityLogger | undefined>();
  });

  it('uploaded files expose path, size, sha256, detected type and display name', () => {
    expectTypeOf(uploadedFiles).returns.toEqualTypeOf<readonly UploadedFile[]>();
    expectTypeOf<UploadedFile>().toHaveProperty('sha256').toEqualTypeOf<string>();
    expectTypeOf<UploadedFile>().toHaveProperty('size').toEqualTypeOf<number>();
    expectTypeOf<UploadedFile['remove']>().returns.toEqualTypeOf<Promise<void>>();
  });
});
