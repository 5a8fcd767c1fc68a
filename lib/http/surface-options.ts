// The options of the protocol surfaces, apart from their controllers: the module options name them,
// and the controllers import the kernel, so keeping them here keeps the options free of import circles.

/** Options of the AI SDK UI message stream route (`server: { uiChat: true | UiChatOptions }`). */
export interface UiChatOptions {
  /** Where the route is mounted. Default `'/chat'`. */
  path?: string;
}

/** Options of the OpenAI-compatible routes (`server: { openai: true | OpenAICompatOptions }`). */
export interface OpenAICompatOptions {
  /** The base path the routes are mounted under: `{path}/chat/completions`, `{path}/models`. Default `'/v1'`. */
  path?: string;
}
