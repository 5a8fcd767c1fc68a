import { Controller, Injectable, Logger } from '@nestjs/common';
import { AfterResponse, Agent, BeforeRequest, Cron, OnEvent, Webhook } from '../lib';
import type { RunContext, RunOutput, TriggerEvent } from '../lib';

/** The parts of a GitHub push payload the sample reads (all optional: it is the sender's JSON). */
interface GithubPush {
  repository?: { full_name?: string; name?: string };
  commits?: { message?: string }[];
}

/** What `POST /hooks/signup` sends and `user_signup` carries. */
interface Signup {
  name?: unknown;
  id?: unknown;
}

/** Webhooks: real Nest routes under /hooks, protected by the app's API key. */
@Controller('hooks')
export class SampleHooks {
  constructor(private readonly agent: Agent) {}

  /** POST /hooks/github with a GitHub push payload: the agent summarises the push. */
  @Webhook('/github')
  onPush(event: TriggerEvent<GithubPush>) {
    const repository = event.body?.repository?.full_name ?? event.body?.repository?.name ?? 'an unknown repository';
    const commits = Array.isArray(event.body?.commits) ? event.body.commits.map((commit) => `- ${commit?.message}`).join('\n') : '';
    return `Summarize this push to ${repository} in one sentence:\n${commits}`;
  }

  /** POST /hooks/signup {"name": "Alice", "id": "u1"}: emits user_signup, answered by Reports.welcome. */
  @Webhook('/signup')
  onSignup(event: TriggerEvent<Signup>) {
    this.agent.emit('user_signup', event.body);
    return null;
  }
}

/** Scheduled and event-driven runs, and hooks around every run. */
@Injectable()
export class Reports {
  private readonly logger = new Logger('Reports');

  @Cron('0 9 * * 1-5', { timezone: 'Europe/Paris' })
  morning() {
    return "Give me today's summary: what time is it in Paris, and one tip for the day.";
  }

  @OnEvent('user_signup')
  welcome(event: TriggerEvent<Signup | undefined>) {
    if (typeof event.body?.name !== 'string') return null;
    return { input: `Write a one-line welcome message for ${event.body.name}.`, userId: String(event.body.id ?? event.body.name) };
  }

  @BeforeRequest()
  logStart(ctx: RunContext) {
    this.logger.log(`run ${ctx.runId} for ${ctx.userId ?? 'anonymous'} (${String(ctx.metadata.trigger ?? 'direct')}): ${ctx.input.slice(0, 60)}`);
  }

  @AfterResponse()
  logEnd(output: RunOutput) {
    this.logger.log(`run ${output.runId} ${output.status} in ${output.metrics.duration.toFixed(2)} s, ${output.metrics.totalTokens} tokens`);
  }
}
