/** Prefix of the DI tokens of interface clients (see {@link getInterfaceClientToken}). */
const INTERFACE_CLIENT_TOKEN_PREFIX = 'DefinableInterfaceClient:';

/**
 * The DI token of an interface's platform SDK client — the `Telegraf` bot of
 * the interface named `'telegram'`, the discord.js `Client` of `'discord'` —
 * for the interfaces given to `DefinableModule.forRoot()`. It resolves to the
 * client in the interface's options, else the app's `nestjs-telegraf` bot /
 * `necord` client, else a new client that is not yet connected (it connects
 * when the supervisor starts the interface, after bootstrap). Inject it to use
 * the bot yourself, or replace it in a test.
 *
 * @example
 * const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
 *   .overrideProvider(getInterfaceClientToken('telegram'))
 *   .useValue(new Telegraf('1:test', { telegram: { apiRoot: fakeTelegram.apiRoot } }))
 *   .compile();
 */
export function getInterfaceClientToken(name: string): string {
  return `${INTERFACE_CLIENT_TOKEN_PREFIX}${name}`;
}

/** DI token of the map from interface name to the client DI resolved for it. */
export const INTERFACE_CLIENTS = 'DefinableModule:interfaceClients';
