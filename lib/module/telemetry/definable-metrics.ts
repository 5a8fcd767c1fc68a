import { Inject, Injectable, OnApplicationShutdown, Optional } from '@nestjs/common';
import type { Agent, RunOutput } from '../../agent';
import { DEFINABLE_OPTIONS } from '../definable.module-definition';
import type { DefinableModuleOptions } from '../definable-module.options';
import { RunTracker } from '../run.tracker';
import { MetricsOptions, RunMetrics, triggerKind } from './run-metrics';

/** An interface's state as the metrics read it. */
export interface InterfaceGauge {
  name: string;
  state: string;
  restarts: number;
}

/**
 * The module's Prometheus metrics (`DefinableModule.forRoot({ metrics })`):
 * the {@link RunMetrics} on the app's registry, fed by the runner (every
 * run's end), the run tracker (runs in flight), the queues (webhook jobs,
 * chat messages) and the interface supervisor. Inert — and prom-client never
 * loaded — when metrics are off.
 */
@Injectable()
export class DefinableMetrics implements OnApplicationShutdown {
  private readonly metrics?: RunMetrics;
  private readonly queues = new Map<string, () => number>();
  private interfaces: () => InterfaceGauge[] = () => [];

  constructor(@Optional() @Inject(DEFINABLE_OPTIONS) options: DefinableModuleOptions | undefined, tracker: RunTracker) {
    const config: MetricsOptions | undefined = options?.metrics === true ? {} : options?.metrics || undefined;
    if (!config) return;
    this.metrics = new RunMetrics(config, {
      inFlight: () => tracker.inFlight,
      queueDepth: () => Object.fromEntries([...this.queues].map(([name, depth]) => [name, depth()])),
      interfaces: () => this.interfaces(),
    });
  }

  /** Whether metrics are on. */
  get enabled(): boolean {
    return this.metrics !== undefined;
  }

  /** Counts an ended run (`trigger` is reduced to its kind: no paths or chat ids in labels). */
  runEnded(trigger: string, output: RunOutput): void {
    const { metrics } = output;
    this.metrics?.runEnded({
      agent: output.agentName,
      trigger: triggerKind(trigger),
      status: output.status,
      model: output.model,
      duration: metrics.duration,
      timeToFirstToken: metrics.timeToFirstToken,
      inputTokens: metrics.inputTokens,
      outputTokens: metrics.outputTokens,
      cost: metrics.cost,
      toolCalls: output.toolCalls,
    });
  }

  /** Counts a run that ended without a terminal event (its stream was left, or it failed outside the loop). */
  runAbandoned(agent: Agent, trigger: string, status: 'cancelled' | 'error'): void {
    this.metrics?.runEnded({
      agent: agent.name,
      trigger: triggerKind(trigger),
      status,
      model: agent.model.id,
      duration: 0,
      timeToFirstToken: null,
      inputTokens: 0,
      outputTokens: 0,
      cost: null,
      toolCalls: [],
    });
  }

  /** Reports a queue's depth under `queue="<name>"`; returns a function that stops reporting it. */
  addQueue(name: string, depth: () => number): () => void {
    this.queues.set(name, depth);
    return () => void this.queues.delete(name);
  }

  /** Where the interfaces' states and restart counts are read (the supervisor). */
  watchInterfaces(read: () => InterfaceGauge[]): void {
    this.interfaces = read;
  }

  /** The registry's exposition text, for `GET /metrics`; `null` when metrics are off. */
  async scrape(): Promise<{ contentType: string; body: string } | null> {
    return this.metrics ? this.metrics.scrape() : null;
  }

  onApplicationShutdown(): void {
    this.metrics?.close();
  }
}
