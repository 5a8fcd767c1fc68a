/**
 * Declarations the README's compiled samples may use although the repository
 * does not install them (see test/unit/readme-samples.test.ts): the Jest
 * globals a `nest new` app gets from `@types/jest`, and the part of
 * `supertest` the samples call. Each lists only what the samples need, typed
 * as the real packages type it, so a misspelt matcher or method still fails.
 */

/** Jest's globals (describe, it, expect, jest.*), as `@types/jest` declares them, trimmed to what READMEs use. */
export const JEST_GLOBALS = `
declare function describe(name: string, fn: () => void): void;
declare function it(name: string, fn: () => unknown, timeout?: number): void;
declare const test: typeof it;
declare function beforeAll(fn: () => unknown, timeout?: number): void;
declare function afterAll(fn: () => unknown, timeout?: number): void;
declare function beforeEach(fn: () => unknown, timeout?: number): void;
declare function afterEach(fn: () => unknown, timeout?: number): void;

interface JestMatchers<R = void> {
  not: JestMatchers<R>;
  resolves: JestMatchers<Promise<void>>;
  rejects: JestMatchers<Promise<void>>;
  toBe(expected: unknown): R;
  toEqual(expected: unknown): R;
  toStrictEqual(expected: unknown): R;
  toMatchObject(expected: object | object[]): R;
  toMatch(expected: string | RegExp): R;
  toContain(expected: unknown): R;
  toHaveLength(length: number): R;
  toHaveProperty(path: string | string[], value?: unknown): R;
  toBeDefined(): R;
  toBeUndefined(): R;
  toBeNull(): R;
  toBeTruthy(): R;
  toBeFalsy(): R;
  toBeGreaterThan(expected: number | bigint): R;
  toBeLessThan(expected: number | bigint): R;
  toThrow(expected?: string | RegExp | Error | (new (...args: any[]) => Error)): R;
  toHaveBeenCalled(): R;
  toHaveBeenCalledTimes(times: number): R;
  toHaveBeenCalledWith(...args: unknown[]): R;
}
declare function expect(actual: unknown): JestMatchers;
declare namespace expect {
  function any(constructor: unknown): any;
  function anything(): any;
  function objectContaining(object: object): any;
  function stringContaining(text: string): any;
  function stringMatching(pattern: string | RegExp): any;
  function arrayContaining(array: readonly unknown[]): any;
}

declare namespace jest {
  interface FakeTimersConfig {
    now?: number | Date;
    advanceTimers?: boolean | number;
    doNotFake?: string[];
    timerLimit?: number;
    legacyFakeTimers?: boolean;
  }
  interface Mock<T extends (...args: any[]) => any = (...args: any[]) => any> {
    (...args: Parameters<T>): ReturnType<T>;
    mock: { calls: Parameters<T>[]; results: { type: string; value: unknown }[] };
    mockReturnValue(value: ReturnType<T>): this;
    mockResolvedValue(value: Awaited<ReturnType<T>>): this;
    mockImplementation(fn: T): this;
  }
  function fn<T extends (...args: any[]) => any = (...args: any[]) => any>(implementation?: T): Mock<T>;
  function useFakeTimers(config?: FakeTimersConfig): typeof jest;
  function useRealTimers(): typeof jest;
  function setSystemTime(now?: number | Date): void;
  function advanceTimersByTime(msToRun: number): void;
  function advanceTimersByTimeAsync(msToRun: number): Promise<void>;
  function runOnlyPendingTimers(): void;
  function setTimeout(timeout: number): typeof jest;
}
`;

/** What the samples use of supertest (the default export, as in a \`nest new\` e2e test). */
export const SUPERTEST = `
declare module 'supertest' {
  interface Response {
    status: number;
    body: any;
    text: string;
    headers: Record<string, string>;
  }
  interface Test extends PromiseLike<Response> {
    set(field: string, value: string): this;
    send(body?: string | object): this;
    query(query: Record<string, string> | string): this;
    expect(status: number, body?: unknown): this;
    expect(field: string, value: string | RegExp): this;
    expect(check: (response: Response) => unknown): this;
  }
  interface Agent {
    get(url: string): Test;
    post(url: string): Test;
    put(url: string): Test;
    patch(url: string): Test;
    delete(url: string): Test;
  }
  function request(app: unknown): Agent;
  export default request;
}
`;
