import { BadRequestException, Controller } from '@nestjs/common';
import { Webhook, type TriggerEvent } from 'nestjs-definable';
import type { GithubPush } from './payloads.js';

@Controller('hooks')
export class GithubController {
  // POST /hooks/github, behind the module's API key; answers with the agent's reply.
  @Webhook('/github')
  onPush(event: TriggerEvent<GithubPush>) {
    const { repository, commits } = event.body;
    if (!repository?.full_name || !Array.isArray(commits)) {
      throw new BadRequestException('Expected a GitHub push payload.');
    }
    const messages = commits.map((commit) => `- ${commit.message}`).join('\n');
    return `Summarize this push to ${repository.full_name}:\n${messages}`;
  }
}
