import { Controller, Get, Header, Logger, OnModuleInit, Type } from '@nestjs/common';
import { Public } from '../../auth';
import { normalizePlaygroundPath, playgroundPage } from './playground-page';

/** Where the playground is served unless {@link PlaygroundOptions.path} says otherwise. */
export const DEFAULT_PLAYGROUND_PATH = '/playground';

/**
 * The playground's options (`playground: true | { path }` in the module
 * options): on in dev mode, off otherwise unless asked for.
 */
export interface PlaygroundOptions {
  /** The page's path. Default `'/playground'`. */
  path?: string;
}

/**
 * A controller serving the playground page ({@link playgroundPage}) at
 * `GET {path}`: public (the page holds no secret — its calls carry the key
 * typed into it), as `text/html` under a Content-Security-Policy that lets
 * only the page's own inline script and style run and connects only to its
 * own origin. `basePath` is the prefix of the module's routes the page calls
 * (`{basePath}/run`, `{basePath}/health`), i.e. the module's `server.prefix`.
 *
 * @example
 * Test.createTestingModule({
 *   imports: [DefinableModule.forRoot({ agent })],
 *   controllers: [createPlaygroundController('/playground')],
 * });
 */
export function createPlaygroundController(path: string = DEFAULT_PLAYGROUND_PATH, basePath = ''): Type<unknown> {
  const route = normalizePlaygroundPath(path, 'path') || '/';
  const api = normalizePlaygroundPath(basePath, 'basePath');
  const page = playgroundPage({ path: route, basePath: api });
  const logger = new Logger('Definable:Playground');

  @Controller()
  class DefinablePlayground implements OnModuleInit {
    onModuleInit(): void {
      logger.log(`Playground at GET ${route} (calls ${api}/run and ${api}/health)`);
    }

    /** `GET {path}`: the playground page. */
    @Get(route)
    @Public()
    @Header('content-type', 'text/html; charset=utf-8')
    @Header('content-security-policy', page.contentSecurityPolicy)
    @Header('x-content-type-options', 'nosniff')
    @Header('x-frame-options', 'DENY')
    @Header('referrer-policy', 'no-referrer')
    @Header('cross-origin-opener-policy', 'same-origin')
    @Header('cache-control', 'no-store')
    page(): string {
      return page.html;
    }
  }
  return DefinablePlayground;
}
