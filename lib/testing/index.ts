/**
 * The nestjs-definable test kit (`nestjs-definable/testing`): a scripted
 * model and a fake OpenAI-compatible server for tests of apps built on it.
 */
export { TestModel } from './test-model';
export type { TestModelCall, TestModelOptions, TestResponse, TestToolCall } from './test-model';
export { echoReply, fakeEmbedding, startFakeOpenAI } from './fake-openai-server';
export type { FakeOpenAIOptions, FakeOpenAIServer, FakeReply, FakeRequest, FakeToolCall } from './fake-openai-server';
export { startFakeTelegram } from './fake-telegram-server';
export type { FakeTelegramOptions, FakeTelegramServer, TelegramCall, TelegramFailure } from './fake-telegram-server';
export { startFakeSignal } from './fake-signal-server';
export type { FakeSignalServer, SignalCall } from './fake-signal-server';
export { startFakeDiscord } from './fake-discord-server';
export type { DiscordCall, FakeDiscordAttachment, FakeDiscordInteractionResponse, FakeDiscordMessage, FakeDiscordOptions, FakeDiscordServer } from './fake-discord-server';
export { waitForRuns } from './wait-for-runs';
export type { AppContext } from './wait-for-runs';
