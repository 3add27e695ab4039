export { loop } from './loop.js';
export type { LoopMiddleware } from './loop.js';
export type { LoopControls, LoopStats } from './core.js';
export type { LoopOptions, QueueOptions } from '../src/options.js';
export type { RedactOptions } from '../src/capture/redact.js';
export type {
  CaptureRecord,
  CapturedBody,
  CapturedRequest,
  CapturedResponse,
  CapturedError,
  CaptureTrace,
  HeaderList,
  OutboundCall,
} from '../src/capture/record.js';
export { LoopError, codes } from '../src/errors.js';
export { currentTrace } from '../src/trace/context.js';
export type { TraceInfo } from '../src/trace/context.js';
