export { createDefinableController, DefinableController } from './definable.controller';
export { DefinableExceptionFilter } from './definable-exception.filter';
export { DefinableHttpError, toErrorResponse } from './http-errors';
export type { ErrorBody } from './http-errors';
export { parseRunRequest } from './run-request';
export type { RunRequestBody } from './run-request';
export { sseFrame, toWireEvent, toWireOutput } from './wire-format';
export type { WireRunOutput } from './wire-format';
