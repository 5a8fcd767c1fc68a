import { Injectable } from '@nestjs/common';
import { Cron, OnEvent, type TriggerEvent } from 'nestjs-definable';
import type { UserSignup } from './payloads.js';

@Injectable()
export class ReportsService {
  // Weekdays at 09:00, Paris time.
  @Cron('0 9 * * 1-5', { timezone: 'Europe/Paris' })
  standup() {
    return "Write today's stand-up reminder for the team.";
  }

  // agent.emit('user_signup', { id, name }) from anywhere in the app (or EventEmitter2.emit(...) once the app imports EventEmitterModule.forRoot()).
  @OnEvent('user_signup')
  welcome(event: TriggerEvent<UserSignup>) {
    return {
      input: `Write a one-line welcome message for ${event.body.name}.`,
      userId: event.body.id,
    };
  }
}
