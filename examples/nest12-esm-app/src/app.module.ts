import { Module } from '@nestjs/common';
import {
  Agent,
  ApiKeyAuth,
  DefinableModule,
  OpenAIChat,
} from 'nestjs-definable';
import { AppController } from './app.controller.js';
import { AppService } from './app.service.js';
import { GithubController } from './github.controller.js';
import { ReportsService } from './reports.service.js';

@Module({
  imports: [
    DefinableModule.forRoot({
      agent: new Agent({
        name: 'assistant',
        // Reads OPENAI_API_KEY and OPENAI_BASE_URL (any OpenAI-compatible server).
        model: new OpenAIChat({
          id: process.env.OPENAI_MODEL ?? 'gpt-4o-mini',
        }),
        instructions: 'You are a concise assistant for a software team.',
      }),
      auth: new ApiKeyAuth({
        keys: [process.env.API_KEY ?? 'dev-key-12345678'],
      }),
    }),
  ],
  controllers: [AppController, GithubController],
  providers: [AppService, ReportsService],
})
export class AppModule {}
