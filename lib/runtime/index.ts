import './agent-serve';
export { serve } from './serve';
export type { ServeHandle, ServeOptions, ServeTimeouts } from './serve';
