import { Agent } from '../agent';
import { serve, ServeHandle, ServeOptions } from './serve';

declare module '../agent/agent' {
  interface Agent {
    /**
     * Serves this agent over HTTP in a Nest app of its own (see `serve()`).
     * Available once `nestjs-definable` (the root entry) is loaded.
     */
    serve(options?: ServeOptions): Promise<ServeHandle>;
  }
}

// The core stays free of Nest: the runtime adds serve() to the Agent when it is loaded.
Agent.prototype.serve = function serveAgent(this: Agent, options?: ServeOptions) {
  return serve(this, options);
};
