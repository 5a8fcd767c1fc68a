/**
 * Where the agent reports what it cannot throw (a failing hook, for
 * example). Nest's `Logger` fits this shape; the default writes to stderr.
 */
export interface AgentLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string, ...details: unknown[]): void;
}

/** The default {@link AgentLogger}: one line per message on stderr. */
export class StderrLogger implements AgentLogger {
  constructor(private readonly context: string) {}

  log(message: string): void {
    this.write('LOG', message);
  }

  warn(message: string): void {
    this.write('WARN', message);
  }

  error(message: string): void {
    this.write('ERROR', message);
  }

  private write(level: string, message: string): void {
    process.stderr.write(`${new Date().toISOString()} ${level} [${this.context}] ${message}\n`);
  }
}
