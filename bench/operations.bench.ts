/**
 * What traces, metrics and quotas cost a run, measured where they live: `AgentRunner.run()` in one
 * process, with a model that answers at once (TestModel), so the denominator is the module's own
 * work per run and nothing else (no HTTP, no model server) — the strictest ratio there is; over HTTP
 * the same cost is a smaller share of a request (see http-run.bench's module-* arms).
 *
 * Configurations, each its own Nest application context built from DefinableModule.forRoot():
 *   plain     tracing: { enabled: false }, no metrics, no quotas
 *   off       the defaults with no OpenTelemetry SDK registered (what every app without one runs)
 *   metrics   metrics on (a registry of its own)
 *   quotas    in-memory quotas: requests, tokens and cost for each user, each agent and globally
 *   traced    an OpenTelemetry SDK registered (BasicTracerProvider, SimpleSpanProcessor, in-memory
 *             exporter emptied after every block): the run span and its model-call span
 * Phase 1 runs plain, off, metrics and quotas before any SDK is registered; phase 2 registers the SDK
 * and runs plain and traced. Within a phase the configurations alternate in blocks of BENCH_OPS_RUNS
 * runs (default 2000), BENCH_OPS_BLOCKS blocks (default 15), each block's CPU time (process.cpuUsage)
 * divided by its runs; reported as the median over blocks of each configuration's ratio to plain's
 * block next to it.
 *
 * The goals (off <= 1.01x, metrics <= 1.05x, quotas <= 1.05x, traced <= 1.25x) are for `POST /run`'s
 * CPU per request, which holds the HTTP stack and the openai client besides the module's own work:
 * each configuration's added µs per run is also shown as a share of one request's CPU,
 * BENCH_OPS_REQUEST_US (default 1060 µs: module-untraced's CPU per request at 32 connections in
 * http-run.bench on the 2-core development machine — pass your machine's), and judged on that.
 * http-run.bench's module-* arms measure the same over HTTP directly, with more noise.
 */
import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { AgentRunner, DefinableModule, DefinableModuleOptions } from '../lib';
import { TestModel } from '../lib/testing';

const RUNS = Number(process.env.BENCH_OPS_RUNS ?? 2000);
const BLOCKS = Number(process.env.BENCH_OPS_BLOCKS ?? 15);
const REQUEST_US = Number(process.env.BENCH_OPS_REQUEST_US ?? 1060);
const FAR = { requests: { limit: 1e12, window: 60 }, tokensPerDay: 1e15, costPerDay: 1e12 };

interface Config {
  name: string;
  app: INestApplicationContext;
  runner: AgentRunner;
  /** CPU µs per run of each block. */
  blocks: number[];
}

async function build(name: string, options: Partial<DefinableModuleOptions>): Promise<Config> {
  const model = new TestModel({ id: 'gpt-4o-mini', price: { input: 0.15, output: 0.6 }, responses: () => ({ content: 'Fine, thanks.', usage: { inputTokens: 20, outputTokens: 4 } }) });
  const app = await NestFactory.createApplicationContext(DefinableModule.forRoot({ agent: { name: 'bench', model }, server: { enabled: false }, ...options }), { logger: false });
  await app.init();
  return { name, app, runner: app.get(AgentRunner), blocks: [] };
}

async function block(config: Config): Promise<void> {
  const started = process.cpuUsage();
  for (let i = 0; i < RUNS; i++) await config.runner.run('How are you?', { trigger: 'POST /run', userId: `user-${i % 64}` });
  const used = process.cpuUsage(started);
  config.blocks.push((used.user + used.system) / RUNS);
}

/** Runs the phase's configurations in alternating order, block after block. */
async function phase(configs: Config[], between?: () => void): Promise<void> {
  for (const config of configs) for (let i = 0; i < 2; i++) await block(config); // warm-up
  for (const config of configs) config.blocks.length = 0;
  for (let b = 0; b < BLOCKS; b++) {
    for (const config of b % 2 ? [...configs].reverse() : configs) {
      await block(config);
      between?.();
    }
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

function report(plain: Config, config: Config, goal: number): void {
  const ratios = config.blocks.map((us, i) => us / plain.blocks[i]);
  const added = median(config.blocks) - median(plain.blocks);
  const perRequest = (REQUEST_US + added) / REQUEST_US;
  console.log(
    `  ${config.name.padEnd(8)} ${median(config.blocks).toFixed(1).padStart(7)} µs/run  +${added.toFixed(1)} µs/run  ${median(ratios).toFixed(3)}x plain in process  ` +
      `${perRequest.toFixed(3)}x per POST /run of ${REQUEST_US} µs (goal <= ${goal}: ${perRequest <= goal ? 'met' : 'NOT met'})`,
  );
}

async function main(): Promise<void> {
  console.log(`Operations benchmark, Node ${process.version}: AgentRunner.run() in process, ${BLOCKS} blocks of ${RUNS} runs per configuration; a POST /run request taken as ${REQUEST_US} µs of CPU`);
  const plain = await build('plain', { tracing: { enabled: false } });
  const off = await build('off', {});
  const metrics = await build('metrics', { metrics: { registry: new Registry() } });
  const quotas = await build('quotas', { quotas: { user: FAR, agent: FAR, global: FAR } });
  await phase([plain, off, metrics, quotas]);
  console.log('\nPhase 1, no OpenTelemetry SDK registered');
  console.log(`  ${'plain'.padEnd(8)} ${median(plain.blocks).toFixed(1).padStart(7)} µs/run`);
  report(plain, off, 1.01);
  report(plain, metrics, 1.05);
  report(plain, quotas, 1.05);

  const exporter = new InMemorySpanExporter();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const traced = await build('traced', {});
  plain.blocks.length = 0;
  await phase([plain, traced], () => exporter.reset());
  console.log('\nPhase 2, an OpenTelemetry SDK registered (in-memory exporter)');
  console.log(`  ${'plain'.padEnd(8)} ${median(plain.blocks).toFixed(1).padStart(7)} µs/run`);
  report(plain, traced, 1.25);
  for (const config of [plain, off, metrics, quotas, traced]) await config.app.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
